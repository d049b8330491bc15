{{/* The release's full name, at most 63 characters. */}}
{{- define "kvlb.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "kvlb.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels that select the agent pods. */}}
{{- define "kvlb.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: node-agent
{{- end -}}

{{/* The service account's name. */}}
{{- define "kvlb.serviceAccountName" -}}
{{- default (include "kvlb.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* An image reference: repository:tag, the tag defaulting to appVersion. */}}
{{- define "kvlb.image" -}}
{{- printf "%s:%s" .image.repository (default .appVersion .image.tag) -}}
{{- end -}}

{{/* The status Lease's name, as the agent hard-codes it (agent/src/k8s/leader.rs). */}}
{{- define "kvlb.statusLease" -}}
kvlb-status-writer
{{- end -}}
