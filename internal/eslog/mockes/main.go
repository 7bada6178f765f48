// Command mockes is the Elasticsearch stand-in for internal/eslog's
// failure tests. It serves Elastic's mock-es (github.com/elastic/mock-es,
// the bulk-ingest test server Elastic uses for Beats): the product header,
// GET /, /_license, POST /_bulk and /_history with the last request bodies.
// mock-es itself throws documents away, so this program gives it a
// deterministic per-action handler that behaves like Elasticsearch for the
// create action (the first create of an _id stores it and answers 201, a
// second one answers 409) and adds control endpoints for fault injection:
//
//	POST /_mock/faults  {"bulkStatus":503,"bulkFailures":3}     the next 3 _bulk requests fail whole
//	                    {"itemStatus":429,"itemFailures":5}     the next 5 actions fail, nothing stored
//	                    {"delay":"2s","delayCount":1,"delayAfterStore":true}
//	                                                           hold the next _bulk response 2s, after
//	                                                           storing (or before, and then drop it if
//	                                                           the client went away)
//	GET  /_mock/docs    {"docs":[{"index","id","source"}],"creates":n,"conflicts":n,"failed":n,"bulks":n}
//	POST /_mock/reset   forget documents, counters and faults
//
// Usage: mockes -addr 127.0.0.1:0 -addr-file FILE (the address it listens
// on is written to FILE once it accepts connections).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/elastic/mock-es/pkg/api"
	"github.com/gofrs/uuid/v5"
)

type doc struct {
	Index  string          `json:"index"`
	ID     string          `json:"id"`
	Source json.RawMessage `json:"source"`
	order  int
}

type faults struct {
	BulkStatus      int    `json:"bulkStatus"`
	BulkFailures    int    `json:"bulkFailures"`
	ItemStatus      int    `json:"itemStatus"`
	ItemFailures    int    `json:"itemFailures"`
	Delay           string `json:"delay"`
	DelayCount      int    `json:"delayCount"`
	DelayAfterStore bool   `json:"delayAfterStore"`
}

type server struct {
	mu        sync.Mutex
	docs      map[string]*doc // index + "\x00" + id
	faults    faults
	delay     time.Duration
	creates   int
	conflicts int
	failed    int
	bulks     int
}

func (s *server) action(a api.Action, body []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.ItemFailures > 0 {
		s.faults.ItemFailures--
		s.failed++
		return s.faults.ItemStatus
	}
	var meta struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	}
	if err := json.Unmarshal(a.Meta, &meta); err != nil || meta.Index == "" {
		s.failed++
		return http.StatusBadRequest
	}
	if !json.Valid(body) {
		s.failed++
		return http.StatusBadRequest
	}
	key := meta.Index + "\x00" + meta.ID
	switch a.Action {
	case "create":
		if meta.ID == "" {
			meta.ID = fmt.Sprintf("auto-%d", len(s.docs))
			key = meta.Index + "\x00" + meta.ID
		}
		if _, ok := s.docs[key]; ok {
			s.conflicts++
			return http.StatusConflict
		}
		s.creates++
		s.docs[key] = &doc{Index: meta.Index, ID: meta.ID, Source: append(json.RawMessage(nil), body...), order: len(s.docs)}
		return http.StatusCreated
	case "index":
		s.docs[key] = &doc{Index: meta.Index, ID: meta.ID, Source: append(json.RawMessage(nil), body...), order: len(s.docs)}
		return http.StatusOK
	case "delete":
		delete(s.docs, key)
		return http.StatusOK
	default:
		return http.StatusBadRequest
	}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request, mock http.Handler) {
	switch {
	case r.URL.Path == "/_mock/faults" && r.Method == http.MethodPost:
		var f faults
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var d time.Duration
		if f.Delay != "" {
			var err error
			if d, err = time.ParseDuration(f.Delay); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		s.mu.Lock()
		s.faults, s.delay = f, d
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	case r.URL.Path == "/_mock/docs" && r.Method == http.MethodGet:
		s.mu.Lock()
		out := struct {
			Docs      []*doc `json:"docs"`
			Creates   int    `json:"creates"`
			Conflicts int    `json:"conflicts"`
			Failed    int    `json:"failed"`
			Bulks     int    `json:"bulks"`
		}{Docs: []*doc{}, Creates: s.creates, Conflicts: s.conflicts, Failed: s.failed, Bulks: s.bulks}
		for _, d := range s.docs {
			out.Docs = append(out.Docs, d)
		}
		s.mu.Unlock()
		sort.Slice(out.Docs, func(i, j int) bool { return out.Docs[i].order < out.Docs[j].order })
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
		return
	case r.URL.Path == "/_mock/reset" && r.Method == http.MethodPost:
		s.mu.Lock()
		s.docs = map[string]*doc{}
		s.faults, s.delay = faults{}, 0
		s.creates, s.conflicts, s.failed, s.bulks = 0, 0, 0, 0
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	case r.URL.Path == "/_bulk" && r.Method == http.MethodPost:
		s.mu.Lock()
		s.bulks++
		fail := 0
		if s.faults.BulkFailures > 0 {
			s.faults.BulkFailures--
			fail = s.faults.BulkStatus
		}
		var delay time.Duration
		after := false
		if s.faults.DelayCount > 0 {
			s.faults.DelayCount--
			delay, after = s.delay, s.faults.DelayAfterStore
		}
		s.mu.Unlock()
		if fail != 0 {
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(fail)
			fmt.Fprintf(w, `{"error":{"type":"injected","reason":"mockes: injected %d"},"status":%d}`, fail, fail)
			return
		}
		if delay > 0 && !after {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return // the client gave up before the request "reached" Elasticsearch
			}
		}
		rec := httptest.NewRecorder()
		mock.ServeHTTP(rec, r)
		if delay > 0 && after {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	mock.ServeHTTP(w, r)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	addrFile := flag.String("addr-file", "", "write the listening address to this file")
	history := flag.Uint("history", 20, "request bodies kept for /_history")
	flag.Parse()

	s := &server{docs: map[string]*doc{}}
	mock := api.NewDeterministicAPIHandler(uuid.Must(uuid.NewV4()), "", nil, time.Now().Add(24*time.Hour), 0, *history, s.action)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *addrFile != "" {
		tmp := *addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(tmp, *addrFile); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("mockes listening on %s", ln.Addr())
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.ServeHTTP(w, r, mock) })))
}
