// Command loadgen sends AdmissionReviews to a webhook the way kube-apiserver does (HTTP/1.1, keep-alive TLS,
// a fixed number of connections, one request in flight on each) and checks every reply.
//
// It is neither of the servers it measures, so both pay the same client. Requests come from a file of
// AdmissionReview bodies, one JSON document per line; request number n (counting from -seq-start) sends line
// n mod lines with every occurrence of the 12-byte token __SEQUENCE__ replaced by n as 12 decimal digits, so
// bodies stay the same length, every request can carry a distinct pod and uid, and two runs with the same
// -seq-start send byte-identical requests. A reply passes when it is HTTP 200 with the request's uid,
// allowed: true and a non-empty JSON Patch. A reply that refuses the pod because the server sheds load
// ("injector overloaded: ...", py-sidecar-injector's answer to a standing queue) is counted apart as shed.
//
// The result is one JSON object on stdout: completed, shed and failed counts, the first failure, elapsed seconds
// and the latency of every completed request in microseconds. With -plan it runs a plan of bench/loadgen.py
// instead (plan.go), for bench/overload_bench.py.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const token = "__SEQUENCE__"

type template struct {
	body      []byte
	positions []int  // offsets of token in body
	uid       string // request uid, possibly containing token
}

type reply struct {
	Response struct {
		UID       string `json:"uid"`
		Allowed   bool   `json:"allowed"`
		Patch     []byte `json:"patch"`
		PatchType string `json:"patchType"`
		Status    struct {
			Message string `json:"message"`
		} `json:"status"`
	} `json:"response"`
}

// errShed marks a well-formed refusal because the server sheds load.
var errShed = errors.New("shed")

const shedPrefix = "injector overloaded:"

type result struct {
	Completed    int64     `json:"completed"`
	Shed         int64     `json:"shed"`
	Failed       int64     `json:"failed"`
	FirstFailure string    `json:"first_failure,omitempty"`
	Elapsed      float64   `json:"elapsed_seconds"`
	LatenciesUS  []float64 `json:"latencies_us"`
}

func main() {
	url := flag.String("url", "", "webhook URL, e.g. https://127.0.0.1:9443/inject?timeout=10s")
	caFile := flag.String("ca", "", "CA certificate that signed the server's certificate (PEM)")
	requestsFile := flag.String("requests", "", "file of AdmissionReview bodies, one per line")
	connections := flag.Int("connections", 1, "keep-alive connections, one request in flight on each")
	duration := flag.Duration("duration", 5*time.Second, "how long to send")
	count := flag.Int64("count", 0, "stop after this many requests instead (0: use -duration)")
	seqStart := flag.Int64("seq-start", 0, "sequence number of the first request")
	planFile := flag.String("plan", "", "run this bench/loadgen.py plan (JSON file) instead; see plan.go")
	outFile := flag.String("out", "", "with -plan: write the result (JSON) here")
	flag.Parse()
	if *planFile != "" {
		if err := runPlan(*planFile, *outFile); err != nil {
			fail("%v", err)
		}
		return
	}

	templates, err := loadTemplates(*requestsFile)
	if err != nil {
		fail("%v", err)
	}
	client, err := newTLSConfig(*caFile)
	if err != nil {
		fail("%v", err)
	}
	res := run(*url, client, templates, *connections, *duration, *count, *seqStart)
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
	os.Exit(2)
}

func loadTemplates(path string) ([]template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []template
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var review struct {
			Request struct {
				UID string `json:"uid"`
			} `json:"request"`
		}
		if err := json.Unmarshal(line, &review); err != nil {
			return nil, fmt.Errorf("%s: request %d is not JSON: %v", path, len(out)+1, err)
		}
		t := template{body: line, uid: review.Request.UID}
		for from := 0; ; {
			i := bytes.Index(line[from:], []byte(token))
			if i < 0 {
				break
			}
			t.positions = append(t.positions, from+i)
			from += i + len(token)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no requests", path)
	}
	return out, nil
}

func newTLSConfig(caFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}, nil
}

// request returns the body and expected uid of request number seq.
func (t template) request(seq int64) ([]byte, string) {
	return t.appendBody(nil, seq), strings.ReplaceAll(t.uid, token, fmt.Sprintf("%012d", seq))
}

// appendBody appends the body of request number seq to dst.
func (t template) appendBody(dst []byte, seq int64) []byte {
	start := len(dst)
	dst = append(dst, t.body...)
	digits := fmt.Appendf(make([]byte, 0, len(token)), "%012d", seq)
	for _, p := range t.positions {
		copy(dst[start+p:], digits)
	}
	return dst
}

func check(status int, body []byte, uid string) error {
	if status != http.StatusOK {
		return fmt.Errorf("HTTP %d: %.200s", status, body)
	}
	var r reply
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("reply is not an AdmissionReview: %v", err)
	}
	switch {
	case r.Response.UID != uid:
		return fmt.Errorf("reply uid %q, want %q", r.Response.UID, uid)
	case !r.Response.Allowed && strings.HasPrefix(r.Response.Status.Message, shedPrefix):
		return errShed
	case !r.Response.Allowed:
		return fmt.Errorf("not allowed: %.300s", body)
	case r.Response.PatchType != "JSONPatch":
		return fmt.Errorf("patchType %q", r.Response.PatchType)
	}
	var ops []struct {
		Op   string `json:"op"`
		Path string `json:"path"`
	}
	if err := json.Unmarshal(r.Response.Patch, &ops); err != nil {
		return fmt.Errorf("patch is not a JSON Patch: %v", err)
	}
	if len(ops) == 0 || ops[0].Op == "" {
		return fmt.Errorf("empty JSON Patch")
	}
	return nil
}

func run(url string, tlsConfig *tls.Config, templates []template, connections int, duration time.Duration,
	count, seqStart int64) result {
	var (
		next      atomic.Int64
		completed atomic.Int64
		shed      atomic.Int64
		failed    atomic.Int64
		mu        sync.Mutex
		first     string
		wg        sync.WaitGroup
	)
	latencies := make([][]float64, connections)
	start := time.Now()
	deadline := start.Add(duration)
	for c := 0; c < connections; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			// One transport per worker goroutine: exactly one keep-alive connection each, no HTTP/2.
			client := &http.Client{Transport: &http.Transport{
				TLSClientConfig: tlsConfig, MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true,
				TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
			}}
			for {
				n := next.Add(1) - 1
				if (count > 0 && n >= count) || (count == 0 && time.Now().After(deadline)) {
					return
				}
				seq := seqStart + n
				body, uid := templates[seq%int64(len(templates))].request(seq)
				began := time.Now()
				err := send(client, url, body, uid)
				if err == nil {
					latencies[c] = append(latencies[c], float64(time.Since(began).Nanoseconds())/1e3)
				}
				if errors.Is(err, errShed) {
					shed.Add(1)
				} else if err != nil {
					failed.Add(1)
					mu.Lock()
					if first == "" {
						first = "request " + strconv.FormatInt(seq, 10) + ": " + err.Error()
					}
					mu.Unlock()
				} else {
					completed.Add(1)
				}
			}
		}(c)
	}
	wg.Wait()
	res := result{Completed: completed.Load(), Shed: shed.Load(), Failed: failed.Load(), FirstFailure: first,
		Elapsed: time.Since(start).Seconds(), LatenciesUS: []float64{}}
	for _, l := range latencies {
		res.LatenciesUS = append(res.LatenciesUS, l...)
	}
	return res
}

func send(client *http.Client, url string, body []byte, uid string) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return check(resp.StatusCode, data, uid)
}
