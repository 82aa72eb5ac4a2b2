{{/* Names and labels shared by every object. */}}
{{- define "bridge.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bridge.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bridge.labels" -}}
{{ include "bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bridge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bridge.secretName" -}}
{{- default (include "bridge.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/* Where the referenced Secrets appear in the container. */}}
{{- define "bridge.secretDir" -}}/etc/audiospliter-bridge/secrets{{- end -}}
{{- define "bridge.tlsDir" -}}/etc/audiospliter-bridge/tls{{- end -}}

{{/* The pod's grace period: the preStop sleep, then the bridge's own shutdown bound
     (it exits within BRIDGE_SHUTDOWN_TIMEOUT + 1 s), then a margin, so Kubernetes
     never SIGKILLs a bridge that is still finishing confirmed publishes. */}}
{{- define "bridge.terminationGracePeriodSeconds" -}}
{{- add (int .Values.preStopSleepSeconds) (int .Values.shutdownTimeoutSeconds) 5 -}}
{{- end -}}

{{- define "bridge.scheme" -}}
{{- if .Values.tls.listenerSecret -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{/* Checks the schema cannot express. */}}
{{- define "bridge.validate" -}}
{{- if and .Values.secretKeys.natsCreds .Values.secretKeys.natsNkey -}}
{{- fail "secretKeys.natsCreds and secretKeys.natsNkey: set at most one (the bridge authenticates with a .creds file or an NKey seed, not both)" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas is larger than autoscaling.maxReplicas" -}}
{{- end -}}
{{- range $name, $v := .Values.config -}}
{{- if kindIs "invalid" $v -}}
{{- fail (printf "config.%s has no value: remove the line or give it one" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
