// The plan mode (-plan FILE -out FILE): bench/loadgen.py's contract, for bench/overload_bench.py.
//
// At several times the server's capacity a Python generator on the same two cores takes a noticeable share of
// the CPU the server had when its capacity was measured; kube-apiserver runs on other machines. This mode runs
// the same plans (sequential, closed, open with a probe connection) and writes the same result, at a fraction of
// the CPU per request. The plan arrives complete: bench/loadgen.py fills every default (complete_plan), so the
// defaults live in one place, and the request bodies come from its pod classes through the requests file.
//
// Every request is one record [intended, sent, done, outcome, message, began], in seconds since this process
// started on Go's monotonic clock, the clock of "started" and "stopped" too. Outcomes as loadgen.py's classify():
// injected, allowed, denied (with the message), http-<status> (with the body's start), error (with the error) or
// no-reply (no reply within reply_timeout); done stays 0 unless a reply was read.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type plan struct {
	Mode            string  `json:"mode"`
	URL             string  `json:"url"`
	CA              string  `json:"ca"`
	RequestsFile    string  `json:"requests_file"`
	Count           int     `json:"requests"`
	Concurrency     int     `json:"concurrency"`
	Duration        float64 `json:"duration"`
	Rate            float64 `json:"rate"`
	ReplyTimeout    float64 `json:"reply_timeout"`
	MaxConnections  int     `json:"max_connections"`
	WarmConnections int     `json:"warm_connections"`
	ProbeURL        string  `json:"probe_url"`
	ProbeInterval   float64 `json:"probe_interval"`
	After           float64 `json:"after"`
	ProbeSeqStart   int64   `json:"probe_sequence_start"`
}

// clockStart is the zero of every time in the result.
var clockStart = time.Now()

func now() float64 { return time.Since(clockStart).Seconds() }

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func sleepUntil(at float64) {
	if d := at - now(); d > 0 {
		time.Sleep(seconds(d))
	}
}

type record struct {
	intended, began, sent, done float64
	outcome, message            string
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func (r *record) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{round6(r.intended), round6(r.sent), round6(r.done), r.outcome, r.message,
		round6(r.began)})
}

// target is one URL with its prebuilt request heads; requests cycle through the templates, each with the next
// number of the target's own sequence (the probe's starts far above the load's, so no two carry the same pod).
type target struct {
	address   string
	head      [][]byte
	templates []template
	tls       *tls.Config
	sequence  atomic.Int64
}

func newTarget(rawURL string, templates []template, tlsConfig *tls.Config, firstSeq int64) (*target, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	t := &target{address: net.JoinHostPort(u.Hostname(), port), templates: templates}
	t.sequence.Store(firstSeq)
	t.tls = tlsConfig.Clone()
	t.tls.ServerName = u.Hostname()
	// Key shares for the groups servers negotiate (OpenSSL 3.0, Go): a post-quantum share as well would cost the
	// generator CPU on every new connection and change nothing for the server.
	t.tls.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	for _, tmpl := range templates {
		t.head = append(t.head, fmt.Appendf(nil,
			"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
			u.RequestURI(), t.address, len(tmpl.body)))
	}
	return t, nil
}

// request writes the next request into buf (reused, so a request costs no allocation) and returns it.
func (t *target) request(buf []byte) []byte {
	seq := t.sequence.Add(1)
	index := seq % int64(len(t.templates))
	return t.templates[index].appendBody(append(buf[:0], t.head[index]...), seq)
}

type conn struct {
	tls     *tls.Conn
	reader  *bufio.Reader
	request []byte
}

func (t *target) dial() (*conn, error) {
	c, err := tls.Dial("tcp", t.address, t.tls)
	if err != nil {
		return nil, err
	}
	return &conn{tls: c, reader: bufio.NewReaderSize(c, 16<<10)}, nil
}

// roundtrip sends the next request of t and reads its reply: status, body and whether the connection may be
// reused.
func (c *conn) roundtrip(t *target, timeout time.Duration) (int, []byte, bool, error) {
	if err := c.tls.SetDeadline(time.Now().Add(timeout)); err != nil {
		return 0, nil, false, err
	}
	c.request = t.request(c.request)
	if _, err := c.tls.Write(c.request); err != nil {
		return 0, nil, false, err
	}
	resp, err := http.ReadResponse(c.reader, nil)
	if err != nil {
		return 0, nil, false, err
	}
	defer resp.Body.Close()
	var body []byte
	if resp.ContentLength >= 0 {
		body = make([]byte, resp.ContentLength)
		_, err = io.ReadFull(resp.Body, body)
	} else {
		body, err = io.ReadAll(resp.Body)
	}
	if err != nil {
		return 0, nil, false, err
	}
	return resp.StatusCode, body, !resp.Close, nil
}

// classify is loadgen.py's classify(): the outcome of a reply and its message.
func classify(status int, body []byte) (string, string, error) {
	if status != http.StatusOK {
		return "http-" + strconv.Itoa(status), string(bytes.ToValidUTF8(body[:min(len(body), 120)], []byte("�"))), nil
	}
	if bytes.Contains(body, []byte(`"allowed":true`)) {
		if bytes.Contains(body, []byte(`"patch"`)) {
			return "injected", "", nil
		}
		return "allowed", "", nil
	}
	var r reply
	if err := json.Unmarshal(body, &r); err != nil {
		return "", "", err
	}
	message := []rune(r.Response.Status.Message)
	return "denied", string(message[:min(len(message), 200)]), nil
}

func errorMessage(err error) string {
	message := []rune(err.Error())
	return string(message[:min(len(message), 200)])
}

// pool holds idle keep-alive connections to one target; a request takes one or opens a new one, with at most
// limit requests (so connections) in flight.
type pool struct {
	target       *target
	replyTimeout time.Duration
	slots        chan struct{}
	mu           sync.Mutex
	idle         []*conn
	open, peak   int
}

func newPool(t *target, limit int, replyTimeout float64) *pool {
	return &pool{target: t, replyTimeout: seconds(replyTimeout), slots: make(chan struct{}, limit)}
}

func (p *pool) opened() {
	p.open++
	p.peak = max(p.peak, p.open)
}

func (p *pool) send(r *record) {
	r.began = now()
	p.slots <- struct{}{}
	defer func() { <-p.slots }()
	p.mu.Lock()
	var c *conn
	if n := len(p.idle); n > 0 {
		c, p.idle = p.idle[n-1], p.idle[:n-1]
	} else {
		p.opened()
	}
	p.mu.Unlock()
	keep := false
	defer func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if keep {
			p.idle = append(p.idle, c)
			return
		}
		p.open--
		if c != nil {
			c.tls.Close()
		}
	}()
	if c == nil {
		var err error
		if c, err = p.target.dial(); err != nil {
			r.outcome, r.message = "error", errorMessage(err)
			return
		}
	}
	r.sent = now()
	status, body, reusable, err := c.roundtrip(p.target, p.replyTimeout)
	var timeout net.Error
	switch {
	case errors.As(err, &timeout) && timeout.Timeout():
		r.outcome = "no-reply"
		return
	case err != nil:
		r.outcome, r.message = "error", errorMessage(err)
		return
	}
	r.done = now()
	if r.outcome, r.message, err = classify(status, body); err != nil {
		r.done = 0
		r.outcome, r.message = "error", errorMessage(err)
		return
	}
	keep = reusable
}

// warm opens count connections before the load starts, as a running apiserver has them.
func (p *pool) warm(count int) error {
	conns := make([]*conn, count)
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = p.target.dial()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("warming %d connections: %w", count, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle = append(p.idle, conns...)
	for range conns {
		p.opened()
	}
	return nil
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		c.tls.Close()
	}
	p.idle = nil
}

func sequential(t *target, pl plan) map[string]any {
	p := newPool(t, 1, pl.ReplyTimeout)
	defer p.close()
	records := make([]*record, pl.Count)
	for i := range records {
		records[i] = &record{intended: now(), outcome: "no-reply"}
		p.send(records[i])
	}
	return map[string]any{"records": records}
}

func closedLoop(t *target, pl plan) map[string]any {
	p := newPool(t, pl.Concurrency, pl.ReplyTimeout)
	defer p.close()
	end := now() + pl.Duration
	perClient := make([][]*record, pl.Concurrency)
	started := now()
	var wg sync.WaitGroup
	for c := range perClient {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for now() < end {
				r := &record{intended: now(), outcome: "no-reply"}
				perClient[c] = append(perClient[c], r)
				p.send(r)
			}
		}()
	}
	wg.Wait()
	var records []*record
	for _, rs := range perClient {
		records = append(records, rs...)
	}
	return map[string]any{"started": started, "records": records}
}

// openLoop starts requests at rate per second for duration whatever the replies do, while a probe connection
// (if any) sends one request every probe_interval until after seconds past the end.
func openLoop(t, probe *target, pl plan) (map[string]any, error) {
	p := newPool(t, pl.MaxConnections, pl.ReplyTimeout)
	defer p.close()
	if err := p.warm(pl.WarmConnections); err != nil {
		return nil, err
	}
	started := now() + 0.05
	stop := started + pl.Duration
	probes := []*record{}
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		if probe != nil {
			probes = probeLoop(probe, pl, stop+pl.After)
		}
	}()
	total := int(pl.Rate * pl.Duration)
	records := make([]*record, total)
	var wg sync.WaitGroup
	for i := range records {
		intended := started + float64(i)/pl.Rate
		sleepUntil(intended)
		records[i] = &record{intended: intended, outcome: "no-reply"}
		wg.Add(1)
		go func(r *record) {
			defer wg.Done()
			p.send(r)
		}(records[i])
	}
	wg.Wait()
	<-probeDone
	p.mu.Lock()
	peak := p.peak
	p.mu.Unlock()
	return map[string]any{"started": started, "stopped": stop, "peak_connections": peak, "records": records,
		"probes": probes}, nil
}

func probeLoop(t *target, pl plan, until float64) []*record {
	p := newPool(t, 1, pl.ReplyTimeout)
	defer p.close()
	records := []*record{}
	next := now()
	for now() < until {
		r := &record{intended: now(), outcome: "no-reply"}
		records = append(records, r)
		p.send(r)
		next += pl.ProbeInterval
		sleepUntil(next)
	}
	return records
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e9
}

// runPlan runs the plan in planFile and writes its result to outFile.
func runPlan(planFile, outFile string) error {
	data, err := os.ReadFile(planFile)
	if err != nil {
		return err
	}
	var pl plan
	if err := json.Unmarshal(data, &pl); err != nil {
		return fmt.Errorf("%s: %v", planFile, err)
	}
	templates, err := loadTemplates(pl.RequestsFile)
	if err != nil {
		return err
	}
	tlsConfig, err := newTLSConfig(pl.CA)
	if err != nil {
		return err
	}
	t, err := newTarget(pl.URL, templates, tlsConfig, 0)
	if err != nil {
		return err
	}
	var result map[string]any
	switch pl.Mode {
	case "sequential":
		result = sequential(t, pl)
	case "closed":
		result = closedLoop(t, pl)
	case "open":
		var probe *target
		if pl.ProbeURL != "" {
			if probe, err = newTarget(pl.ProbeURL, templates, tlsConfig, pl.ProbeSeqStart); err != nil {
				return err
			}
		}
		if result, err = openLoop(t, probe, pl); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown mode %q", pl.Mode)
	}
	result["wall_seconds"] = now()
	result["cpu_seconds"] = cpuSeconds()
	out, err := json.Marshal(result)
	if err != nil {
		return err
	}
	return os.WriteFile(outFile, out, 0o644)
}
