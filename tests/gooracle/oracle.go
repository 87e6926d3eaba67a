// Command oracle renders Go text/template cases with Istio's injection function map, as istiod does, so the
// test suite can compare our translator and runtime with Go itself.
//
// Protocol: one JSON request per line on stdin, one JSON answer per line on stdout, in order.
//
//	{"op": "render", "template": "...", "data": {...}}  -> {"output": "..."} or {"error": "...", "phase": "parse"|"exec"}
//	                                                        (plus "raw": base64 of the bytes when they are not UTF-8)
//	{"op": "funcs"}                                      -> {"funcs": {"name": "func(...) ...", ...},
//	                                                         "sprig": [names of sprig.TxtFuncMap()],
//	                                                         "istio": [names of inject.InjectionFuncmap]}
//
// "data" holds the fields of Istio's SidecarTemplateData by their Go names; each is decoded into its real Go
// type (ObjectMeta and Spec with encoding/json, ProxyConfig and MeshConfig with protojson, Values as
// map[string]any with float64 numbers, ProxyUID/ProxyGID as int64), so templates see what they see in istiod.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"syscall"
	"text/template"
	"unicode/utf8"

	"github.com/Masterminds/sprig/v3"
	"google.golang.org/protobuf/proto"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pkg/kube/inject"
	"istio.io/istio/pkg/util/protomarshal"
)

// maxOutput bounds one answer, so a runaway case cannot exhaust the test process reading it.
const maxOutput = 4 << 20

type request struct {
	Op       string                     `json:"op"`
	Template string                     `json:"template"`
	Data     map[string]json.RawMessage `json:"data"`
}

type answer struct {
	Output *string           `json:"output,omitempty"`
	Raw    string            `json:"raw,omitempty"`
	Error  string            `json:"error,omitempty"`
	Phase  string            `json:"phase,omitempty"`
	Funcs  map[string]string `json:"funcs,omitempty"`
	Sprig  []string          `json:"sprig,omitempty"`
	Istio  []string          `json:"istio,omitempty"`
}

// funcMap is what istiod parses injection templates with: sprig's text functions, Istio's helpers on top.
func funcMap() template.FuncMap {
	m := sprig.TxtFuncMap()
	for name, fn := range inject.InjectionFuncmap {
		m[name] = fn
	}
	return m
}

func decodeProto(raw json.RawMessage, msg proto.Message) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return protomarshal.Unmarshal(raw, msg)
}

func templateData(fields map[string]json.RawMessage) (*inject.SidecarTemplateData, error) {
	data := &inject.SidecarTemplateData{}
	plain := map[string]any{
		"TypeMeta": &data.TypeMeta, "DeploymentMeta": &data.DeploymentMeta, "ObjectMeta": &data.ObjectMeta,
		"Spec": &data.Spec, "Values": &data.Values, "Revision": &data.Revision,
		"NativeSidecars": &data.NativeSidecars, "ProxyImage": &data.ProxyImage, "ProxyUID": &data.ProxyUID,
		"ProxyGID": &data.ProxyGID, "InboundTrafficPolicyMode": &data.InboundTrafficPolicyMode,
		"CompliancePolicy": &data.CompliancePolicy,
	}
	for name, raw := range fields {
		switch name {
		case "ProxyConfig":
			if string(raw) != "null" {
				data.ProxyConfig = &meshconfig.ProxyConfig{}
				if err := decodeProto(raw, data.ProxyConfig); err != nil {
					return nil, fmt.Errorf("ProxyConfig: %w", err)
				}
			}
		case "MeshConfig":
			if string(raw) != "null" {
				data.MeshConfig = &meshconfig.MeshConfig{}
				if err := decodeProto(raw, data.MeshConfig); err != nil {
					return nil, fmt.Errorf("MeshConfig: %w", err)
				}
			}
		default:
			target, ok := plain[name]
			if !ok {
				return nil, fmt.Errorf("unknown template data field %q", name)
			}
			if err := json.Unmarshal(raw, target); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return data, nil
}

// boundedBuffer stops accepting output past maxOutput (the template then fails with a write error).
type boundedBuffer struct{ bytes.Buffer }

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxOutput {
		return 0, fmt.Errorf("output larger than %d bytes", maxOutput)
	}
	return b.Buffer.Write(p)
}

func render(req request) answer {
	tmpl, err := template.New("inject").Funcs(funcMap()).Parse(req.Template)
	if err != nil {
		return answer{Error: err.Error(), Phase: "parse"}
	}
	data, err := templateData(req.Data)
	if err != nil {
		return answer{Error: "bad request data: " + err.Error(), Phase: "data"}
	}
	var out boundedBuffer
	if err := tmpl.Execute(&out, data); err != nil {
		return answer{Error: err.Error(), Phase: "exec"}
	}
	text := out.String()
	ans := answer{Output: &text}
	if !utf8.ValidString(text) {
		ans.Raw = base64.StdEncoding.EncodeToString(out.Bytes())
	}
	return ans
}

// names lists a function map's names, sorted.
func names(m template.FuncMap) []string {
	out := make([]string, 0, len(m))
	for name := range m {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func signatures() map[string]string {
	out := map[string]string{}
	for name, fn := range funcMap() {
		out[name] = reflect.TypeOf(fn).String()
	}
	return out
}

// answersOut moves the process's stdout aside for the answers: Istio's helpers log warnings (fromJSON of bad
// input, ...) to stdout, so fd 1 is pointed at stderr and the answers go to a duplicate of the original stdout.
func answersOut() *os.File {
	fd, err := syscall.Dup(1)
	if err != nil {
		panic(err)
	}
	if err := syscall.Dup3(2, 1, 0); err != nil {
		panic(err)
	}
	return os.NewFile(uintptr(fd), "answers")
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	enc := json.NewEncoder(answersOut())
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var req request
			var ans answer
			if jerr := json.Unmarshal(line, &req); jerr != nil {
				ans = answer{Error: "bad request: " + jerr.Error(), Phase: "request"}
			} else if req.Op == "funcs" {
				ans = answer{Funcs: signatures(), Sprig: names(sprig.TxtFuncMap()), Istio: names(inject.InjectionFuncmap)}
			} else {
				ans = render(req)
			}
			if eerr := enc.Encode(ans); eerr != nil {
				os.Exit(1)
			}
		}
		if err != nil {
			return
		}
	}
}
