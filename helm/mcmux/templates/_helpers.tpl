{{/*
Helpers shared by this chart's own templates and by application charts that include the
sidecar. Every helper here takes a dict:
  top     the root context of the chart that renders (for .Release and .Capabilities)
  values  the mcmux values: .Values in this chart, .Values.mcmux in an application chart that
          has mcmux as a dependency (Helm merges this chart's defaults in there)
Names never use .Chart.Name, which differs between this chart and an including chart, so both
compute the same object names.
*/}}

{{/* Base name: "mcmux" or nameOverride. */}}
{{- define "mcmux.name" -}}
{{- default "mcmux" .values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name: "<release>-mcmux", the release name alone if it contains the base name, or fullnameOverride. */}}
{{- define "mcmux.fullname" -}}
{{- if .values.fullnameOverride -}}
{{- .values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "mcmux.name" . -}}
{{- if contains $name .top.Release.Name -}}
{{- .top.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .top.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the ConfigMap with mcmux.conf. */}}
{{- define "mcmux.configMapName" -}}
{{- printf "%s-config" (include "mcmux.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object this chart renders. */}}
{{- define "mcmux.labels" -}}
app.kubernetes.io/name: {{ include "mcmux.name" . }}
app.kubernetes.io/instance: {{ .top.Release.Name }}
app.kubernetes.io/version: {{ .top.Chart.AppVersion | default "unknown" | quote }}
app.kubernetes.io/managed-by: {{ .top.Release.Service }}
app.kubernetes.io/part-of: mcmux
{{- end -}}

{{/* Selector labels of the DaemonSet's pods. */}}
{{- define "mcmux.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcmux.name" . }}
app.kubernetes.io/instance: {{ .top.Release.Name }}
{{- end -}}

{{/* The image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "mcmux.image" -}}
{{- $img := .values.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .top.Chart.AppVersion $img.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/* True when this render is the DaemonSet mode. */}}
{{- define "mcmux.isDaemonset" -}}
{{- if eq (toString .values.mode) "daemonset" -}}true{{- end -}}
{{- end -}}

{{/* The memcached listen address as written in mcmux.conf. */}}
{{- define "mcmux.listenAddress" -}}
{{- if include "mcmux.isDaemonset" . -}}
{{- printf "0.0.0.0:%d" (int .values.listen.port) -}}
{{- else -}}
{{- printf "127.0.0.1:%d" (int .values.listen.port) -}}
{{- end -}}
{{- end -}}

{{/* The admin listen address as written in mcmux.conf. */}}
{{- define "mcmux.adminAddress" -}}
{{- $host := toString .values.admin.host -}}
{{- if contains ":" $host -}}
{{- printf "[%s]:%d" $host (int .values.admin.port) -}}
{{- else -}}
{{- printf "%s:%d" $host (int .values.admin.port) -}}
{{- end -}}
{{- end -}}

{{/* Where the application reaches mcmux over TCP in sidecar mode, "127.0.0.1:11211". */}}
{{- define "mcmux.clientAddress" -}}
{{- printf "127.0.0.1:%d" (int .values.listen.port) -}}
{{- end -}}

{{/* Mount paths of the Secrets. */}}
{{- define "mcmux.caDir" -}}/var/run/secrets/mcmux/ca{{- end -}}
{{- define "mcmux.clientDir" -}}/var/run/secrets/mcmux/client{{- end -}}

{{/* Fails the render on combinations that cannot work. Renders nothing otherwise. */}}
{{- define "mcmux.validate" -}}
{{- $v := .values -}}
{{- if not (has (toString $v.mode) (list "sidecar" "daemonset")) -}}
{{- fail (printf "mcmux: mode must be sidecar or daemonset, not %q" (toString $v.mode)) -}}
{{- end -}}
{{- if and (include "mcmux.isDaemonset" .) (not $v.daemonset.acknowledgeNonLoopbackListen) -}}
{{- fail "mcmux: mode daemonset listens on 0.0.0.0 (mcmux.unsafe-listen = true), so plaintext memcached is reachable from the pod network. Set daemonset.acknowledgeNonLoopbackListen=true to accept that (see values.yaml)." -}}
{{- end -}}
{{- if ge (int $v.limits.globalBufferBudgetMiB) (int $v.jvm.maxDirectMemoryMiB) -}}
{{- fail (printf "mcmux: limits.globalBufferBudgetMiB (%d) must be below jvm.maxDirectMemoryMiB (%d): Netty's buffers are direct memory" (int $v.limits.globalBufferBudgetMiB) (int $v.jvm.maxDirectMemoryMiB)) -}}
{{- end -}}
{{- if eq (int $v.listen.port) (int $v.admin.port) -}}
{{- fail "mcmux: listen.port and admin.port must differ" -}}
{{- end -}}
{{- if and $v.unixSocket.enabled (include "mcmux.isDaemonset" .) -}}
{{- fail "mcmux: unixSocket is for sidecar mode (a socket cannot cross pods)" -}}
{{- end -}}
{{- end -}}

{{/* Pod annotations for a pod that runs mcmux: a checksum of the config (so a config change rolls the pods) and, if enabled, Prometheus scrape annotations. */}}
{{- define "mcmux.podAnnotations" -}}
checksum/mcmux-config: {{ include "mcmux.config" . | sha256sum }}
{{- if .values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .values.admin.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/* Pod labels for a pod that carries the mcmux sidecar; the sidecar-mode PodMonitor selects them. */}}
{{- define "mcmux.podLabels" -}}
mcmux/sidecar: {{ include "mcmux.fullname" . | quote }}
{{- end -}}

{{/* JAVA_TOOL_OPTIONS for the container. */}}
{{- define "mcmux.javaToolOptions" -}}
{{- $j := .values.jvm -}}
{{- $opts := list "-XX:+UseSerialGC" (printf "-XX:MaxRAMPercentage=%v" $j.maxRAMPercentage) "-Xms16m" "-Xmn4m" "-Xss256k" (printf "-XX:MaxDirectMemorySize=%dm" (int $j.maxDirectMemoryMiB)) "-XX:TrimNativeHeapInterval=5000" "-XX:-UsePerfData" "-XX:+ExitOnOutOfMemoryError" "-XX:ErrorFile=/tmp/mcmux-hs_err_%p.log" "-Dio.netty.native.workdir=/tmp/mcmux-native" "-Dio.netty.tmpdir=/tmp/mcmux-native" -}}
{{- concat $opts ($j.extraOptions | default list) | join " " -}}
{{- end -}}
