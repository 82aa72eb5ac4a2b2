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
{{- define "bridge.sendersDir" -}}/etc/audiospliter-bridge/senders{{- end -}}

{{/* The senders file of .Values.senders: the file's own keys, each secret_file
     beside it (<name>.secret, relative to the file), where the senders volume
     puts the sender's Secret key. */}}
{{- define "bridge.sendersFile" -}}
senders:
{{- range .Values.senders }}
  - name: {{ .name | quote }}
    path: {{ .path | quote }}
    scheme: {{ .scheme | quote }}
    secret_file: {{ printf "%s.secret" .name | quote }}
    {{- with .tolerance }}
    tolerance: {{ . | quote }}
    {{- end }}
    {{- with .route }}
    route: {{ . | quote }}
    {{- end }}
    {{- with .destination }}
    destination:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .hmac }}
    hmac:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
{{- end -}}

{{/* Whether the release's own Secret has a key to mount: the webhook secret
     without senders, or a broker URL (SQS has none). */}}
{{- define "bridge.mainSecret" -}}
{{- if or (not .Values.senders) (ne .Values.sink "sqs") -}}true{{- end -}}
{{- end -}}

{{/* The pod's grace period: the preStop sleep, then the bridge's own shutdown bound
     (it exits within BRIDGE_SHUTDOWN_TIMEOUT + 1 s), then a margin, so Kubernetes
     never SIGKILLs a bridge that is still finishing confirmed publishes. */}}
{{- define "bridge.terminationGracePeriodSeconds" -}}
{{- add (int .Values.preStopSleepSeconds) (int .Values.shutdownTimeoutSeconds) 5 -}}
{{- end -}}

{{- define "bridge.scheme" -}}
{{- if .Values.tls.listenerSecret -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{/* The bridge's environment, mounts and volumes: the same for the bridge, the
     init container that checks before it (checkAtStart) and the `helm test` pod,
     so that `bridge check` sees exactly what the bridge will. */}}
{{- define "bridge.env" -}}
{{- $secret := include "bridge.secretName" . }}
{{- $secretDir := include "bridge.secretDir" . }}
{{- $tlsDir := include "bridge.tlsDir" . }}
{{- $keys := .Values.secretKeys }}
{{- $rabbitTLS := .Values.tls.rabbitmq }}
{{- $natsTLS := .Values.tls.nats }}
- name: BRIDGE_SINK
  value: {{ .Values.sink | quote }}
- name: BRIDGE_LISTEN_ADDR
  value: ":8080"
- name: BRIDGE_SHUTDOWN_TIMEOUT
  value: "{{ .Values.shutdownTimeoutSeconds }}s"
{{- if .Values.senders }}
- name: BRIDGE_SENDERS_FILE
  value: {{ printf "%s/senders.yaml" (include "bridge.sendersDir" .) | quote }}
{{- else }}
- name: BRIDGE_WEBHOOK_SECRET_FILE
  value: {{ printf "%s/webhook-secret" $secretDir | quote }}
{{- end }}
{{- if eq .Values.sink "rabbitmq" }}
- name: BRIDGE_RABBITMQ_URL_FILE
  value: {{ printf "%s/rabbitmq-url" $secretDir | quote }}
{{- with $rabbitTLS.caSecret }}
- name: BRIDGE_RABBITMQ_TLS_CA_FILE
  value: {{ printf "%s/rabbitmq-ca/ca.crt" $tlsDir | quote }}
{{- end }}
{{- with $rabbitTLS.clientCertSecret }}
- name: BRIDGE_RABBITMQ_TLS_CERT_FILE
  value: {{ printf "%s/rabbitmq-client/tls.crt" $tlsDir | quote }}
- name: BRIDGE_RABBITMQ_TLS_KEY_FILE
  value: {{ printf "%s/rabbitmq-client/tls.key" $tlsDir | quote }}
{{- end }}
{{- end }}
{{- if eq .Values.sink "nats" }}
- name: BRIDGE_NATS_URL_FILE
  value: {{ printf "%s/nats-url" $secretDir | quote }}
{{- if $keys.natsCreds }}
- name: BRIDGE_NATS_CREDS_FILE
  value: {{ printf "%s/nats.creds" $secretDir | quote }}
{{- end }}
{{- if $keys.natsNkey }}
- name: BRIDGE_NATS_NKEY_FILE
  value: {{ printf "%s/nats.nk" $secretDir | quote }}
{{- end }}
{{- with $natsTLS.caSecret }}
- name: BRIDGE_NATS_TLS_CA_FILE
  value: {{ printf "%s/nats-ca/ca.crt" $tlsDir | quote }}
{{- end }}
{{- with $natsTLS.clientCertSecret }}
- name: BRIDGE_NATS_TLS_CERT_FILE
  value: {{ printf "%s/nats-client/tls.crt" $tlsDir | quote }}
- name: BRIDGE_NATS_TLS_KEY_FILE
  value: {{ printf "%s/nats-client/tls.key" $tlsDir | quote }}
{{- end }}
{{- end }}
{{- if eq .Values.sink "sqs" }}
- name: BRIDGE_SQS_QUEUE_URL
  value: {{ .Values.sqs.queueURL | quote }}
- name: AWS_REGION
  value: {{ .Values.sqs.region | quote }}
{{- end }}
{{- if .Values.tls.listenerSecret }}
- name: BRIDGE_TLS_CERT_FILE
  value: {{ printf "%s/listener/tls.crt" $tlsDir | quote }}
- name: BRIDGE_TLS_KEY_FILE
  value: {{ printf "%s/listener/tls.key" $tlsDir | quote }}
{{- end }}
{{- range $name, $value := .Values.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{- toYaml . | nindent 0 }}
{{- end }}
{{- end -}}

{{- define "bridge.volumeMounts" -}}
{{- $secret := include "bridge.secretName" . }}
{{- $secretDir := include "bridge.secretDir" . }}
{{- $tlsDir := include "bridge.tlsDir" . }}
{{- $keys := .Values.secretKeys }}
{{- $rabbitTLS := .Values.tls.rabbitmq }}
{{- $natsTLS := .Values.tls.nats }}
{{- if include "bridge.mainSecret" . }}
- name: secrets
  mountPath: {{ $secretDir }}
  readOnly: true
{{- end }}
{{- if .Values.senders }}
- name: senders
  mountPath: {{ include "bridge.sendersDir" . }}
  readOnly: true
{{- end }}
{{- if or .Values.tls.listenerSecret $rabbitTLS.caSecret $rabbitTLS.clientCertSecret $natsTLS.caSecret $natsTLS.clientCertSecret }}
- name: tls
  mountPath: {{ $tlsDir }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "bridge.volumes" -}}
{{- $secret := include "bridge.secretName" . }}
{{- $secretDir := include "bridge.secretDir" . }}
{{- $tlsDir := include "bridge.tlsDir" . }}
{{- $keys := .Values.secretKeys }}
{{- $rabbitTLS := .Values.tls.rabbitmq }}
{{- $natsTLS := .Values.tls.nats }}
# Whole-directory mounts (no subPath), so Kubernetes can update a rotated
# Secret in place; the bridge re-reads the webhook secret file on change.
{{- if include "bridge.mainSecret" . }}
- name: secrets
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ $secret }}
          items:
            {{- if not .Values.senders }}
            - key: {{ $keys.webhookSecret }}
              path: webhook-secret
            {{- end }}
            {{- if eq .Values.sink "rabbitmq" }}
            - key: {{ $keys.rabbitmqURL }}
              path: rabbitmq-url
            {{- end }}
            {{- if eq .Values.sink "nats" }}
            - key: {{ $keys.natsURL }}
              path: nats-url
            {{- with $keys.natsCreds }}
            - key: {{ . }}
              path: nats.creds
            {{- end }}
            {{- with $keys.natsNkey }}
            - key: {{ . }}
              path: nats.nk
            {{- end }}
            {{- end }}
{{- end }}
{{- if .Values.senders }}
# The senders file and, beside it, each sender's secret: one directory, so that
# the file names its secret files relative to itself; the bridge re-reads them on
# change.
- name: senders
  projected:
    defaultMode: 0440
    sources:
      - configMap:
          name: {{ include "bridge.fullname" . }}-senders
          items:
            - {key: senders.yaml, path: senders.yaml}
      {{- range .Values.senders }}
      - secret:
          name: {{ .secret.name }}
          items:
            - key: {{ default "secret" .secret.key }}
              path: {{ printf "%s.secret" .name }}
      {{- end }}
{{- end }}
{{- if or .Values.tls.listenerSecret $rabbitTLS.caSecret $rabbitTLS.clientCertSecret $natsTLS.caSecret $natsTLS.clientCertSecret }}
- name: tls
  projected:
    defaultMode: 0440
    sources:
      {{- with .Values.tls.listenerSecret }}
      - secret:
          name: {{ . }}
          items:
            - {key: tls.crt, path: listener/tls.crt}
            - {key: tls.key, path: listener/tls.key}
      {{- end }}
      {{- if eq .Values.sink "rabbitmq" }}
      {{- with $rabbitTLS.caSecret }}
      - secret:
          name: {{ . }}
          items:
            - {key: ca.crt, path: rabbitmq-ca/ca.crt}
      {{- end }}
      {{- with $rabbitTLS.clientCertSecret }}
      - secret:
          name: {{ . }}
          items:
            - {key: tls.crt, path: rabbitmq-client/tls.crt}
            - {key: tls.key, path: rabbitmq-client/tls.key}
      {{- end }}
      {{- end }}
      {{- if eq .Values.sink "nats" }}
      {{- with $natsTLS.caSecret }}
      - secret:
          name: {{ . }}
          items:
            - {key: ca.crt, path: nats-ca/ca.crt}
      {{- end }}
      {{- with $natsTLS.clientCertSecret }}
      - secret:
          name: {{ . }}
          items:
            - {key: tls.crt, path: nats-client/tls.crt}
            - {key: tls.key, path: nats-client/tls.key}
      {{- end }}
      {{- end }}
{{- end }}
{{- end -}}

{{/* The container's image and hardening, for every container running the binary. */}}
{{- define "bridge.image" -}}
image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  capabilities:
    drop: ["ALL"]
{{- end -}}

{{- define "bridge.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
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
{{- range $name := list "BRIDGE_PUBLISH_TIMEOUT" "BRIDGE_DEDUP_TTL" -}}
{{- if hasKey $.Values.config $name -}}
{{- $v := toString (get $.Values.config $name) -}}
{{- if and (regexMatch "^[0-9]+(\\.[0-9]+)?$" $v) (ne $v "0") -}}
{{- fail (printf "config.%s: %s is missing its unit: write %ss (or ms, m, h), quoted in YAML" $name $v $v) -}}
{{- else if not (regexMatch "^(0|([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$" $v) -}}
{{- fail (printf "config.%s: %q is not a duration: write a number and its unit, such as 10s, 500ms or 2m" $name $v) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $i, $e := .Values.extraEnv -}}
{{- if hasPrefix "BRIDGE_" (toString $e.name) -}}
{{- fail (printf "extraEnv[%d]: %s is a variable of the bridge: set it with config.%s, or with the chart's own value for it (sink, secretKeys, tls, sqs, shutdownTimeoutSeconds), not in extraEnv" $i $e.name $e.name) -}}
{{- end -}}
{{- end -}}
{{- if .Values.senders -}}
{{- if hasKey .Values.config "BRIDGE_WEBHOOK_PATH" -}}
{{- fail "config.BRIDGE_WEBHOOK_PATH: with senders each sender has its own path; remove it (the bridge refuses both)" -}}
{{- end -}}
{{- $names := dict -}}
{{- $paths := dict -}}
{{- range $i, $s := .Values.senders -}}
{{- if hasKey $names $s.name -}}
{{- fail (printf "senders[%d].name: %q is also the name of another sender" $i $s.name) -}}
{{- end -}}
{{- if hasKey $paths $s.path -}}
{{- fail (printf "senders[%d].path: %q is also the path of another sender" $i $s.path) -}}
{{- end -}}
{{- $_ := set $names $s.name true -}}
{{- $_ := set $paths $s.path true -}}
{{- if and $s.hmac (ne $s.scheme "hmac") -}}
{{- fail (printf "senders[%d].hmac: applies only to scheme hmac" $i) -}}
{{- end -}}
{{- if and $s.tolerance (not (has $s.scheme (list "standard-webhooks" "stripe"))) -}}
{{- fail (printf "senders[%d].tolerance: applies only to schemes standard-webhooks and stripe (the others sign no timestamp)" $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) -}}
{{- fail "ingress.hosts: give at least one host name when ingress.enabled is true" -}}
{{- end -}}
{{- end -}}
