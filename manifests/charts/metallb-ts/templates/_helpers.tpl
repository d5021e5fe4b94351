{{/* Labels every object gets; `app: metallb` is MetalLB's and what its users select on. */}}
{{- define "metallb-ts.labels" -}}
app: metallb
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "metallb-ts.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* MetalLB's ClusterRole names, prefixed with the namespace as MetalLB's manifests do. */}}
{{- define "metallb-ts.clusterName" -}}
{{ .root.Release.Namespace }}:{{ .name }}
{{- end }}

{{- define "metallb-ts.downwardEnv" -}}
- name: METALLB_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: METALLB_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- with .Values.nodeOptions }}
- name: NODE_OPTIONS
  value: {{ . }}
{{- end }}
{{- end }}

{{- /* The speaker's: by number, as it declares no ports (see its updateStrategy). */ -}}
{{- define "metallb-ts.speakerProbes" -}}
startupProbe:
  exec:
    command: [node, -e, "require('node:fs').accessSync('/tmp/started')"]
  periodSeconds: 1
  timeoutSeconds: 5
  failureThreshold: 180
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .Values.health.port }}
  initialDelaySeconds: 10
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .Values.health.port }}
  periodSeconds: 5
  failureThreshold: 3
{{- end }}

{{- define "metallb-ts.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: health
  initialDelaySeconds: 10
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: health
  periodSeconds: 5
  failureThreshold: 3
{{- end }}
