{{/*
mcmux.conf (HOCON) rendered from the values; takes the same dict as the other helpers.
Strings are written with toJson, which is valid HOCON quoting.
*/}}
{{- define "mcmux.config" -}}
{{- $v := .values -}}
{{- $daemonset := include "mcmux.isDaemonset" . -}}
# mcmux.conf rendered by the mcmux Helm chart for release {{ .top.Release.Name }}, mode {{ $v.mode }}.
# Change the chart's values, not this file. Every setting: reference.conf in the mcmux sources.
mcmux {
  listen = {{ include "mcmux.listenAddress" . | toJson }}
{{- if $daemonset }}
  # DaemonSet mode: clients on the node reach mcmux through a node-local Service, so mcmux
  # listens on all interfaces (daemonset.acknowledgeNonLoopbackListen = true in the values).
  unsafe-listen = true
{{- else }}
  unsafe-listen = false
{{- end }}
{{- if $v.unixSocket.enabled }}
  unix-socket = {{ $v.unixSocket.path | toJson }}
  unix-socket-mode = {{ $v.unixSocket.mode | default "0666" | toJson }}
{{- end }}
  event-loops = {{ int $v.eventLoops }}
  upstream {
    endpoints = {{ $v.upstream.endpoints | default list | toJson }}
    connections-per-loop = {{ int $v.upstream.connectionsPerLoop }}
    connect-timeout = {{ $v.upstream.connectTimeout }}
    request-timeout = {{ $v.upstream.requestTimeout }}
    placement = {{ $v.upstream.placement | default "libmemcached" }}
    discovery = {{ $v.upstream.discovery | default "static" }}
  }
  tls {
{{- if $v.tls.caSecret.name }}
    ca-file = {{ printf "%s/%s" (include "mcmux.caDir" .) $v.tls.caSecret.key | toJson }}
{{- else }}
    # No CA Secret: the runtime's default trust store.
    ca-file = ""
{{- end }}
    server-name = {{ $v.tls.serverName | toJson }}
{{- if $v.tls.clientSecret.name }}
    cert-file = {{ printf "%s/%s" (include "mcmux.clientDir" .) $v.tls.clientSecret.certKey | toJson }}
    key-file = {{ printf "%s/%s" (include "mcmux.clientDir" .) $v.tls.clientSecret.keyKey | toJson }}
{{- end }}
    verify = {{ $v.tls.verify }}
    engine = {{ $v.tls.engine }}
  }
  limits {
    global-buffer-budget = {{ int $v.limits.globalBufferBudgetMiB }}MiB
    max-client-connections = {{ int $v.limits.maxClientConnections }}
  }
  admin {
    # All interfaces: the kubelet's probes and Prometheus use the pod IP.
    listen = {{ include "mcmux.adminAddress" . | toJson }}
    readiness = {{ $v.admin.readiness | default "any" }}
  }
  shutdown {
    drain-delay = {{ $v.shutdown.drainDelay | default "0s" }}
    grace-period = {{ $v.shutdown.gracePeriod | default "20s" }}
  }
  log.format = {{ $v.log.format | default "text" }}
{{- with $v.extraConfig }}
  # extraConfig (from the values)
{{ . | trim | indent 2 }}
{{- end }}
}
{{ end -}}
