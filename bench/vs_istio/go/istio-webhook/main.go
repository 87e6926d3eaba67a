// Command istio-webhook serves Istio's own sidecar injection webhook (istio.io/istio/pkg/kube/inject) over TLS,
// assembled the way istiod assembles it, so that bench/vs_istio can measure it beside py-sidecar-injector.
//
// What istiod does and this program repeats (pilot/pkg/bootstrap): the mesh config comes from a watched file
// merged onto Istio's defaults; the injector config and values come from inject.NewFileWatcher on the mounted
// ConfigMap files; the push context carries the ProxyConfigs computed from the mesh (no ProxyConfig resources);
// inject.NewWebhook registers /inject on an HTTPS mux served with a TLS >= 1.2 http.Server. What it leaves out:
// the xDS server, the Kubernetes clients (the multicluster controller is empty, so set ENABLE_NATIVE_SIDECARS to
// true or false rather than auto) and certificate issuance (the certificate comes from files).
//
// Usage:
//
//	istio-webhook -config-dir DIR -tls-cert-file CRT -tls-key-file KEY [-addr 127.0.0.1:15017]
//	istio-webhook -render-default-config DIR    # writes config, values, mesh of the chart's default install
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"istio.io/istio/operator/pkg/render"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/filewatcher"
	"istio.io/istio/pkg/kube/inject"
	"istio.io/istio/pkg/kube/krt"
	"istio.io/istio/pkg/kube/multicluster"
	istiolog "istio.io/istio/pkg/log"
)

func main() {
	renderTo := flag.String("render-default-config", "", "write the files config, values and mesh of the chart's "+
		"default install (as Istio's injection tests render it) into this directory, then exit")
	configDir := flag.String("config-dir", "", "directory holding the files config, values and mesh")
	addr := flag.String("addr", "127.0.0.1:15017", "address of the HTTPS listener")
	certFile := flag.String("tls-cert-file", "", "serving certificate (PEM)")
	keyFile := flag.String("tls-key-file", "", "its private key (PEM)")
	revision := flag.String("revision", "default", "istio.io/rev of this injector (istiod's REVISION)")
	flag.Parse()

	if err := istiolog.Configure(istiolog.DefaultOptions()); err != nil {
		fail("configure logging: %v", err)
	}
	if *renderTo != "" {
		if err := renderDefaultConfig(*renderTo); err != nil {
			fail("render default config: %v", err)
		}
		return
	}
	if *configDir == "" || *certFile == "" || *keyFile == "" {
		fail("-config-dir, -tls-cert-file and -tls-key-file are required")
	}
	if err := serve(*configDir, *addr, *certFile, *keyFile, *revision); err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "istio-webhook: "+format+"\n", args...)
	os.Exit(1)
}

// serve builds the environment and webhook like istiod's initMeshConfiguration + initSidecarInjector.
func serve(configDir, addr, certFile, keyFile, revision string) error {
	stop := make(chan struct{})
	opts := krt.NewOptionsBuilder(stop, "", nil)
	meshFile, err := meshwatcher.NewFileSource(filewatcher.NewWatcher(), filepath.Join(configDir, "mesh"), opts)
	if err != nil {
		return fmt.Errorf("mesh file: %v", err)
	}
	meshes := meshwatcher.NewCollection(opts, meshFile)
	meshes.AsCollection().WaitUntilSynced(stop)

	env := model.NewEnvironment()
	env.Watcher = meshwatcher.ConfigAdapter(meshes)
	env.ConfigStore = model.NewFakeStore() // no ProxyConfig resources: the mesh's defaultConfig applies
	setProxyConfigs(env)
	env.Watcher.AddMeshHandler(func() { setProxyConfigs(env) }) // istiod recomputes them on the next push

	watcher, err := inject.NewFileWatcher(filepath.Join(configDir, "config"), filepath.Join(configDir, "values"))
	if err != nil {
		return fmt.Errorf("config watcher: %v", err)
	}
	mux := http.NewServeMux()
	wh, err := inject.NewWebhook(inject.WebhookParameters{
		Watcher:      watcher,
		Env:          env,
		Mux:          mux,
		Revision:     revision,
		MultiCluster: multicluster.NewFakeController(),
	})
	if err != nil {
		return fmt.Errorf("create injection webhook: %v", err)
	}
	wh.Run(stop)
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

	server := &http.Server{
		Addr:              addr,
		Handler:           mux,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	istiolog.Infof("serving Istio's injection webhook on https://%s", addr)
	return server.ListenAndServeTLS(certFile, keyFile)
}

func setProxyConfigs(env *model.Environment) {
	push := model.NewPushContext()
	push.ProxyConfigs = model.GetProxyConfigs(env.ConfigStore, env.Mesh())
	env.SetPushContext(push)
}

// renderDefaultConfig renders the istio-discovery chart embedded in the module with the settings of Istio's
// injection tests (getInjectionSettings: profile empty, pilot enabled) and writes the ConfigMap keys as files.
func renderDefaultConfig(dir string) error {
	sets, _, err := render.GenerateManifest(nil, []string{"profile=empty", "components.pilot.enabled=true"}, false, nil, nil)
	if err != nil {
		return err
	}
	keys := map[string]map[string]string{
		"istio-sidecar-injector": {"config": "config", "values": "values"},
		"istio":                  {"mesh": "mesh"},
	}
	written := 0
	for _, set := range sets {
		for _, m := range set.Manifests {
			files, ok := keys[m.GetName()]
			if !ok || m.GetKind() != "ConfigMap" {
				continue
			}
			data, _ := m.Object["data"].(map[string]any)
			for key, file := range files {
				text, ok := data[key].(string)
				if !ok {
					return fmt.Errorf("ConfigMap %s has no key %s", m.GetName(), key)
				}
				if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644); err != nil {
					return err
				}
				written++
			}
		}
	}
	if written != 3 {
		return fmt.Errorf("found %d of the 3 ConfigMap keys in the rendered chart", written)
	}
	return nil
}
