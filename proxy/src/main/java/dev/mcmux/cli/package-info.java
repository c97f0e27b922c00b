/**
 * The {@code mcmux} command line: parses flags, maps failures to one-line errors and exit codes.
 */
package dev.mcmux.cli;
