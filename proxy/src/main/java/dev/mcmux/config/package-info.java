/**
 * Settings: {@code reference.conf} defaults, a HOCON file, {@code MCMUX_*} variables and flags
 * merged once at start into immutable, validated records; depends on no other mcmux package.
 */
package dev.mcmux.config;
