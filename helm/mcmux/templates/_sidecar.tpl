{{/*
The mcmux container and what a pod needs around it. An application chart that has this chart
as a dependency (alias-free, so its values are under .Values.mcmux) writes, in its pod spec:

  {{- $mcmux := dict "top" $ "values" .Values.mcmux }}
  metadata:
    labels:      {{- include "mcmux.podLabels" $mcmux | nindent 8 }}
    annotations: {{- include "mcmux.podAnnotations" $mcmux | nindent 8 }}
  spec:
    initContainers:
      {{- include "mcmux.initContainers" $mcmux | nindent 6 }}
    containers:
      - name: app
        env:
          - name: MEMCACHED_SERVERS
            value: {{ include "mcmux.clientAddress" $mcmux | quote }}
      {{- include "mcmux.containers" $mcmux | nindent 6 }}
    volumes:
      {{- include "mcmux.volumes" $mcmux | nindent 6 }}

mcmux.initContainers renders the sidecar when sidecar.native is true (and nothing otherwise);
mcmux.containers renders it when sidecar.native is false. mcmux.sidecar is the container itself
(one list item) for charts that place it themselves. examples/app-with-sidecar is a whole chart.
*/}}

{{/* The sidecar container as one list item: native (restartPolicy: Always) or classic, per sidecar.native. */}}
{{- define "mcmux.sidecar" -}}
{{- include "mcmux.validate" . -}}
{{- if include "mcmux.isDaemonset" . -}}
{{- fail "mcmux: the sidecar templates need mode: sidecar in the mcmux values" -}}
{{- end -}}
{{- if and .values.sidecar.native (semverCompare "<1.29.0-0" .top.Capabilities.KubeVersion.Version) -}}
{{- fail (printf "mcmux: native sidecars need Kubernetes 1.29 or later (this is %s): set mcmux.sidecar.native=false for the classic form" .top.Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- include "mcmux.container" (merge (dict "native" .values.sidecar.native) .) -}}
{{- end -}}

{{/* List items for initContainers: the native sidecar, or nothing. */}}
{{- define "mcmux.initContainers" -}}
{{- if .values.sidecar.native -}}
{{- include "mcmux.sidecar" . -}}
{{- end -}}
{{- end -}}

{{/* List items for containers: the classic sidecar, or nothing. */}}
{{- define "mcmux.containers" -}}
{{- if not .values.sidecar.native -}}
{{- include "mcmux.sidecar" . -}}
{{- end -}}
{{- end -}}

{{/* The pod volumes mcmux mounts, as list items. */}}
{{- define "mcmux.volumes" -}}
{{- $c := .values.containerName -}}
- name: {{ $c }}-config
  configMap:
    name: {{ include "mcmux.configMapName" . }}
{{- if .values.tls.caSecret.name }}
- name: {{ $c }}-ca
  secret:
    secretName: {{ .values.tls.caSecret.name }}
    items:
      - key: {{ .values.tls.caSecret.key }}
        path: {{ .values.tls.caSecret.key }}
{{- end }}
{{- if .values.tls.clientSecret.name }}
- name: {{ $c }}-client
  secret:
    secretName: {{ .values.tls.clientSecret.name }}
    items:
      - key: {{ .values.tls.clientSecret.certKey }}
        path: {{ .values.tls.clientSecret.certKey }}
      - key: {{ .values.tls.clientSecret.keyKey }}
        path: {{ .values.tls.clientSecret.keyKey }}
{{- end }}
- name: {{ $c }}-tmp
  emptyDir:
    sizeLimit: {{ .values.tmpSizeLimit }}
{{- if and .values.unixSocket.enabled (not (include "mcmux.isDaemonset" .)) }}
- name: {{ $c }}-socket
  emptyDir: {}
{{- end }}
{{- end -}}

{{/* A volumeMounts item for the application container, to reach the Unix socket. */}}
{{- define "mcmux.socketVolumeMount" -}}
- name: {{ .values.containerName }}-socket
  mountPath: {{ dir .values.unixSocket.path }}
{{- end -}}

{{/*
The container itself, shared by the sidecar and the DaemonSet. Extra key in the dict:
  native  true for a restartable init container
Secrets are mounted as whole directories (no subPath), so rotated files appear in place.
*/}}
{{- define "mcmux.container" -}}
{{- $v := .values -}}
{{- $c := $v.containerName -}}
- name: {{ $c }}
  image: {{ include "mcmux.image" . | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
{{- if .native }}
  # A native sidecar: started before the application's containers, stopped after them.
  restartPolicy: Always
{{- end }}
  args: ["run", "--config", "/etc/mcmux/mcmux.conf"]
  env:
    - name: JAVA_TOOL_OPTIONS
      value: {{ include "mcmux.javaToolOptions" . | quote }}
    # Two glibc malloc arenas instead of one per thread that ever allocated natively.
    - name: MALLOC_ARENA_MAX
      value: "2"
{{- if and $v.tls.clientSecret.name $v.tls.clientSecret.passwordKey }}
    - name: MCMUX_TLS_KEY_PASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ $v.tls.clientSecret.name }}
          key: {{ $v.tls.clientSecret.passwordKey }}
{{- end }}
{{- with $v.env }}
{{ toYaml . | indent 4 }}
{{- end }}
  ports:
    - name: mcmux
      containerPort: {{ int $v.listen.port }}
      protocol: TCP
    - name: mcmux-admin
      containerPort: {{ int $v.admin.port }}
      protocol: TCP
  startupProbe:
    httpGet:
      path: {{ $v.probes.startup.path | default (ternary "/readyz" "/healthz" (and .native (not (include "mcmux.isDaemonset" .)))) }}
      port: {{ int $v.admin.port }}
    periodSeconds: {{ $v.probes.startup.periodSeconds }}
    timeoutSeconds: {{ $v.probes.startup.timeoutSeconds }}
    failureThreshold: {{ $v.probes.startup.failureThreshold }}
  readinessProbe:
    httpGet:
      path: {{ $v.probes.readiness.path }}
      port: {{ int $v.admin.port }}
    periodSeconds: {{ $v.probes.readiness.periodSeconds }}
    timeoutSeconds: {{ $v.probes.readiness.timeoutSeconds }}
    failureThreshold: {{ $v.probes.readiness.failureThreshold }}
  livenessProbe:
    httpGet:
      path: {{ $v.probes.liveness.path }}
      port: {{ int $v.admin.port }}
    periodSeconds: {{ $v.probes.liveness.periodSeconds }}
    timeoutSeconds: {{ $v.probes.liveness.timeoutSeconds }}
    failureThreshold: {{ $v.probes.liveness.failureThreshold }}
{{- if and (not .native) (not (include "mcmux.isDaemonset" .)) (gt (int $v.sidecar.classicPreStopSleepSeconds) 0) }}
  lifecycle:
    preStop:
      sleep:
        seconds: {{ int $v.sidecar.classicPreStopSleepSeconds }}
{{- end }}
  # A bad setting stops mcmux with one line on stderr; show it in `kubectl describe pod`.
  terminationMessagePolicy: FallbackToLogsOnError
  resources:
    {{- toYaml $v.resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  volumeMounts:
    - name: {{ $c }}-config
      mountPath: /etc/mcmux
      readOnly: true
{{- if $v.tls.caSecret.name }}
    - name: {{ $c }}-ca
      mountPath: {{ include "mcmux.caDir" . }}
      readOnly: true
{{- end }}
{{- if $v.tls.clientSecret.name }}
    - name: {{ $c }}-client
      mountPath: {{ include "mcmux.clientDir" . }}
      readOnly: true
{{- end }}
    # Writable and executable: Netty unpacks its native libraries here.
    - name: {{ $c }}-tmp
      mountPath: /tmp
{{- if and $v.unixSocket.enabled (not (include "mcmux.isDaemonset" .)) }}
    - name: {{ $c }}-socket
      mountPath: {{ dir $v.unixSocket.path }}
{{- end }}
{{- with $v.extraVolumeMounts }}
{{ toYaml . | indent 4 }}
{{- end }}
{{- end -}}
