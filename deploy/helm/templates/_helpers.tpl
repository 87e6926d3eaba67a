{{/* Labels on every object: the ones the kustomize install sets, plus Helm's bookkeeping. */}}
{{- define "injector.labels" -}}
app.kubernetes.io/name: sidecar-injector
app.kubernetes.io/part-of: py-sidecar-injector
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "injector.selectorLabels" -}}
app.kubernetes.io/name: sidecar-injector
{{- end }}

{{/*
Annotations of every webhook configuration: the user's, plus cert-manager's CA injection from the Certificate (then
the server is not asked to patch caBundle). Renders nothing when there are none.
*/}}
{{- define "injector.webhookAnnotations" -}}
{{- $annotations := deepCopy .Values.sidecarInjectorWebhookAnnotations -}}
{{- if eq .Values.certificates.source "certManager" -}}
{{- $_ := set $annotations "cert-manager.io/inject-ca-from" (printf "%s/sidecar-injector" .Release.Namespace) -}}
{{- end -}}
{{- with $annotations -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end }}

{{/*
Checks the revisions and tags before anything renders, so a bad values file fails `helm install/upgrade` with a
message instead of installing webhooks that route pods nowhere.
*/}}
{{- define "injector.validate" -}}
{{- if not .Values.revisions }}
{{- fail "revisions: list at least one revision to serve" }}
{{- end }}
{{- if not (has .Values.certificates.source (list "secret" "certManager")) }}
{{- fail (printf "certificates.source: %q is neither secret nor certManager" .Values.certificates.source) }}
{{- end }}
{{- if and .Values.injectionURL (not .Values.caBundle) (ne .Values.certificates.source "certManager") }}
{{- fail "injectionURL needs caBundle (the server patches only Service-based webhooks it can verify by name)" }}
{{- end }}
{{- range $tag, $revision := .Values.revisionTags }}
{{- if not (has $revision $.Values.revisions) }}
{{- fail (printf "revisionTags.%s: revision %q is not in revisions %v" $tag $revision $.Values.revisions) }}
{{- end }}
{{- if and (has $tag $.Values.revisions) (ne $tag "default") }}
{{- fail (printf "revisionTags.%s: a tag may not be named like a served revision (only `default` may)" $tag) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
One webhook entry. Arguments (dict): root (the chart context), name, path (/rev/<rev>/inject), namespaceSelector
and objectSelector (lists of matchExpressions).
*/}}
{{- define "injector.webhook" -}}
{{- $root := .root -}}
- name: {{ .name }}
  clientConfig:
    {{- if $root.Values.injectionURL }}
    url: {{ printf "%s%s" (trimSuffix "/" $root.Values.injectionURL) .path | quote }}
    {{- else }}
    service:
      name: sidecar-injector
      namespace: {{ $root.Release.Namespace }}
      path: {{ .path }}
      port: 443
    {{- end }}
    {{- if $root.Values.caBundle }}
    caBundle: {{ $root.Values.caBundle | quote }}
    {{- end }}
  rules:
    - operations: ["CREATE"]
      apiGroups: [""]
      apiVersions: ["v1"]
      resources: ["pods"]
  failurePolicy: {{ $root.Values.failurePolicy }}
  sideEffects: None
  reinvocationPolicy: {{ $root.Values.sidecarInjectorWebhook.reinvocationPolicy }}
  timeoutSeconds: {{ $root.Values.timeoutSeconds }}
  admissionReviewVersions: ["v1"]
  namespaceSelector:
    matchExpressions:
      {{- toYaml .namespaceSelector | nindent 6 }}
  objectSelector:
    matchExpressions:
      {{- toYaml .objectSelector | nindent 6 }}
{{- end }}

{{/*
The webhooks Istio's chart registers for revision (or tag) R, all calling `path`. Arguments (dict): root, selector
(R), path, suffix (the webhook names' domain), legacy (also the default-revision webhooks).
*/}}
{{- define "injector.webhooks" -}}
{{- $root := .root -}}
{{- $notFalse := dict "key" "sidecar.istio.io/inject" "operator" "NotIn" "values" (list "false") -}}
{{- $noLegacy := dict "key" "istio-injection" "operator" "DoesNotExist" -}}
{{- $noRev := dict "key" "istio.io/rev" "operator" "DoesNotExist" -}}
{{- $isRev := dict "key" "istio.io/rev" "operator" "In" "values" (list .selector) -}}
{{- /* Namespace opted in with istio.io/rev=R (and no legacy label); a pod can opt out. */}}
{{- include "injector.webhook" (dict "root" $root "name" (printf "rev.namespace.%s" .suffix) "path" .path
      "namespaceSelector" (list $isRev $noLegacy) "objectSelector" (list $notFalse)) }}
{{- /* Namespace unlabelled; the pod asks for istio.io/rev=R. */}}
{{- include "injector.webhook" (dict "root" $root "name" (printf "rev.object.%s" .suffix) "path" .path
      "namespaceSelector" (list $noRev $noLegacy) "objectSelector" (list $notFalse $isRev)) | nindent 0 }}
{{- if .legacy }}
{{- /* Legacy namespace label istio-injection=enabled. */}}
{{- include "injector.webhook" (dict "root" $root "name" (printf "namespace.%s" .suffix) "path" .path
      "namespaceSelector" (list (dict "key" "istio-injection" "operator" "In" "values" (list "enabled")))
      "objectSelector" (list $notFalse)) | nindent 0 }}
{{- /* Namespace unlabelled; pod label sidecar.istio.io/inject=true without a revision label. */}}
{{- include "injector.webhook" (dict "root" $root "name" (printf "object.%s" .suffix) "path" .path
      "namespaceSelector" (list $noLegacy $noRev)
      "objectSelector" (list (dict "key" "sidecar.istio.io/inject" "operator" "In" "values" (list "true")) $noRev))
      | nindent 0 }}
{{- if $root.Values.sidecarInjectorWebhook.enableNamespacesByDefault }}
{{- /* Every namespace without injection labels except the system ones, pods without either label. */}}
{{- include "injector.webhook" (dict "root" $root "name" (printf "auto.%s" .suffix) "path" .path
      "namespaceSelector" (list $noLegacy $noRev (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn"
        "values" (list "kube-system" "kube-public" "kube-node-lease" "local-path-storage")))
      "objectSelector" (list (dict "key" "sidecar.istio.io/inject" "operator" "DoesNotExist") $noRev))
      | nindent 0 }}
{{- end }}
{{- end }}
{{- end }}

{{/* ClusterRole + binding allowing the server to patch (caBundle) exactly one webhook configuration. */}}
{{- define "injector.patchRBAC" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ .name }}
  labels:
    {{- include "injector.labels" .root | nindent 4 }}
rules:
  - apiGroups: ["admissionregistration.k8s.io"]
    resources: ["mutatingwebhookconfigurations"]
    resourceNames: [{{ .configuration | quote }}]
    verbs: ["patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ .name }}
  labels:
    {{- include "injector.labels" .root | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ .name }}
subjects:
  - kind: ServiceAccount
    name: sidecar-injector
    namespace: {{ .root.Release.Namespace }}
{{- end }}
