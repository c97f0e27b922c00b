# syntax=docker/dockerfile:1
# mcmux container image: the shaded jar on a jlink-minimal Java 17 runtime, on Debian 12 slim.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t mcmux:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp:rw,exec,nosuid,nodev,size=16m \
#     -e MCMUX_UPSTREAM_ENDPOINTS=my-cache.example.com:11211 mcmux:0.1.0
#
# Stages: "build" runs Maven once on the build machine's own platform (the jar is the same for
# every target); "jlink" runs on the target platform, because jlink links the target JDK's own
# jmods, and smoke-tests the result there; the final stage copies the runtime and the jar.
#
# Base images are pinned to exact versions here. A release pipeline should also pin them by
# digest (FROM name:tag@sha256:...), e.g. `--build-arg RUNTIME_IMAGE=debian:12.11-slim@sha256:...`.
ARG MAVEN_IMAGE=maven:3.9.9-eclipse-temurin-17
ARG JDK_IMAGE=eclipse-temurin:17.0.15_6-jdk-jammy
ARG RUNTIME_IMAGE=debian:12.11-slim

FROM --platform=$BUILDPLATFORM ${MAVEN_IMAGE} AS build
WORKDIR /src
COPY pom.xml ./
COPY proxy/pom.xml proxy/
COPY proxy/src proxy/src
RUN --mount=type=cache,target=/root/.m2 \
    mvn -B -DskipTests package \
 && cp proxy/target/mcmux.jar /mcmux.jar

FROM ${JDK_IMAGE} AS jlink
ARG TARGETARCH
COPY --chmod=0755 deploy/docker/build-runtime.sh deploy/docker/check-runtime.sh /usr/local/bin/
# The module list and the reasons for it are in build-runtime.sh; deploy/ci-checks.sh runs the
# same two scripts on the local JDK.
RUN build-runtime.sh /opt/mcmux
COPY --from=build /mcmux.jar /opt/mcmux/mcmux.jar
# The jar carries epoll and BoringSSL natives for linux-x86_64 and linux-aarch_64 only: fail for
# any other TARGETARCH, and prove on this one that BoringSSL loads on the linked runtime.
RUN check-runtime.sh /opt/mcmux /opt/mcmux/mcmux.jar "$TARGETARCH"

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="mcmux" \
      org.opencontainers.image.description="Local TLS multiplexing sidecar for memcached"
# A fixed numeric UID/GID (Kubernetes' runAsNonRoot can only verify a numeric USER). No home.
RUN groupadd --system --gid 10001 mcmux \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin mcmux
COPY --from=jlink /opt/mcmux /opt/mcmux
COPY --chmod=0755 deploy/docker/healthcheck.sh /opt/mcmux/bin/healthcheck
COPY --chmod=0644 deploy/docker/mcmux.conf /etc/mcmux/mcmux.conf
# JVM sizing for a sidecar (see docs/deployment.md and bench/rss.sh): a small young generation
# and a heap that gives memory back, native memory trimmed every 5 s, two malloc arenas. Keep
# C2: no -XX:TieredStopAtLevel, which would cap the JIT at C1 and cost throughput.
# The root filesystem may be read-only: /tmp must then be a writable, *executable* mount
# (Kubernetes emptyDir, or docker --tmpfs /tmp:rw,exec,...; Docker's tmpfs default is noexec),
# because Netty unpacks its epoll and BoringSSL libraries there before loading them.
# Replace the whole variable to change any of it; mcmux's own settings are MCMUX_* variables.
ENV MALLOC_ARENA_MAX=2
ENV JAVA_TOOL_OPTIONS="-XX:+UseSerialGC -XX:MaxRAMPercentage=50 -Xms16m -Xmn4m -Xss256k -XX:MaxDirectMemorySize=64m -XX:TrimNativeHeapInterval=5000 -XX:-UsePerfData -XX:+ExitOnOutOfMemoryError -XX:ErrorFile=/tmp/mcmux-hs_err_%p.log -Dio.netty.native.workdir=/tmp/mcmux-native -Dio.netty.tmpdir=/tmp/mcmux-native"
USER 10001:10001
EXPOSE 11211 9180
# bash's /dev/tcp: no curl or wget in the image, and a second JVM would take a second and tens
# of MB per probe. Kubernetes ignores HEALTHCHECK and uses the chart's probes instead.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/opt/mcmux/bin/healthcheck", "/healthz"]
ENTRYPOINT ["/opt/mcmux/bin/java", "-jar", "/opt/mcmux/mcmux.jar"]
CMD ["run", "--config", "/etc/mcmux/mcmux.conf"]
