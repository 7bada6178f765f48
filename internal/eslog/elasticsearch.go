package eslog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/elastic/go-elasticsearch/v8/esutil"
)

// ElasticsearchConfig configures the Elasticsearch exporter.
type ElasticsearchConfig struct {
	// Addresses are the node URLs, e.g. http://127.0.0.1:9200. A path is
	// kept as a prefix (ZincSearch serves its ES API under /es), and
	// user:password in the URL is used for basic auth.
	Addresses []string
	Username  string
	Password  string
	APIKey    string // base64 "id:key", as Elasticsearch issues it
	// IndexPrefix names the daily indices <prefix>-YYYY.MM.DD and the
	// index template. Default DefaultIndexPrefix.
	IndexPrefix string
	// MaxRetries is how often the client itself retries a request on 429,
	// 502, 503, 504 or a transport error, with a short backoff. 0 (the
	// default) disables client retries: the Temporal activity retries the
	// whole export with its own backoff, visibly in the Temporal UI.
	MaxRetries int
	// FlushBytes is the bulk request size. Default 1 MiB.
	FlushBytes int
	// Transport overrides the HTTP transport (TLS settings, tests).
	Transport http.RoundTripper
	// Logger receives warnings (template not supported). Default
	// slog.Default().
	Logger *slog.Logger
}

// Elasticsearch exports events with the bulk "create" action through
// esutil.BulkIndexer. It is safe for concurrent use.
type Elasticsearch struct {
	client     *elasticsearch.Client
	prefix     string
	flushBytes int
	log        *slog.Logger

	templateMu   sync.Mutex
	templateDone bool
}

// NewElasticsearch builds the exporter. It does not contact the server:
// a worker must start while Elasticsearch is down.
func NewElasticsearch(cfg ElasticsearchConfig) (*Elasticsearch, error) {
	if len(cfg.Addresses) == 0 {
		return nil, errors.New("eslog: no Elasticsearch address")
	}
	if cfg.IndexPrefix == "" {
		cfg.IndexPrefix = DefaultIndexPrefix
	}
	if strings.ToLower(cfg.IndexPrefix) != cfg.IndexPrefix || strings.ContainsAny(cfg.IndexPrefix, `\/*?"<>| ,#:`) {
		return nil, fmt.Errorf("eslog: index prefix %q: must be lowercase without \\ / * ? \" < > | , # : or spaces", cfg.IndexPrefix)
	}
	if cfg.FlushBytes <= 0 {
		cfg.FlushBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:     cfg.Addresses,
		Username:      cfg.Username,
		Password:      cfg.Password,
		APIKey:        cfg.APIKey,
		Transport:     cfg.Transport,
		DisableRetry:  cfg.MaxRetries <= 0,
		MaxRetries:    cfg.MaxRetries,
		RetryOnStatus: []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		RetryBackoff:  func(attempt int) time.Duration { return time.Duration(attempt) * 200 * time.Millisecond },
	})
	if err != nil {
		return nil, fmt.Errorf("eslog: elasticsearch client: %w", err)
	}
	return &Elasticsearch{client: client, prefix: cfg.IndexPrefix, flushBytes: cfg.FlushBytes, log: cfg.Logger}, nil
}

// Client is the underlying client, for callers (and tests) that need
// other APIs.
func (x *Elasticsearch) Client() *elasticsearch.Client { return x.client }

// IndexPrefix is the configured prefix of the daily indices.
func (x *Elasticsearch) IndexPrefix() string { return x.prefix }

// Stats counts what one export did.
type Stats struct {
	Created  int // documents written by this export
	Existing int // documents already there (409 on create): exported before
}

// Export implements Exporter.
func (x *Elasticsearch) Export(ctx context.Context, events []Event) error {
	_, err := x.ExportStats(ctx, events)
	return err
}

type outcome struct {
	done      bool
	created   bool
	status    int
	reason    string
	permanent bool
}

// ExportStats is Export that also says how many documents it created and
// how many were already there. On error, Stats covers the events whose
// outcome is known.
func (x *Elasticsearch) ExportStats(ctx context.Context, events []Event) (Stats, error) {
	var st Stats
	if len(events) == 0 {
		return st, nil
	}
	if err := validate(events); err != nil {
		return st, err
	}
	events = dedupe(events)
	// The template must exist before the first document creates a daily
	// index, or the index gets dynamic mappings. A failure here is
	// retryable like any other: the server is probably down.
	if err := x.ensureTemplateOnce(ctx); err != nil {
		return st, err
	}

	var (
		mu       sync.Mutex
		outcomes = make([]outcome, len(events))
		flushErr error
	)
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:     x.client,
		NumWorkers: 1,
		FlushBytes: x.flushBytes,
		// Close flushes; no timer-driven flush in the middle of Add.
		FlushInterval: time.Hour,
		// The indexer's workers flush with context.Background(); hand them
		// the export's context so a cancelled or timed-out activity stops
		// its HTTP request.
		OnFlushStart: func(context.Context) context.Context { return ctx },
		OnError: func(_ context.Context, err error) {
			mu.Lock()
			if flushErr == nil {
				flushErr = err
			}
			mu.Unlock()
		},
	})
	if err != nil {
		return st, fmt.Errorf("eslog: bulk indexer: %w", err)
	}
	var addErr error
	for i, e := range events {
		doc, err := e.Document()
		if err != nil {
			addErr = &PermanentError{Failures: []ItemFailure{{Event: e, Reason: err.Error()}}}
			break
		}
		err = bi.Add(ctx, esutil.BulkIndexerItem{
			Index:      e.IndexName(x.prefix),
			Action:     "create",
			DocumentID: e.ID(),
			Body:       bytes.NewReader(doc),
			OnSuccess: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem) {
				mu.Lock()
				outcomes[i] = outcome{done: true, created: true, status: res.Status}
				mu.Unlock()
			},
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
				mu.Lock()
				outcomes[i] = classify(res, err)
				mu.Unlock()
			},
		})
		if err != nil {
			addErr = fmt.Errorf("eslog: bulk add: %w", err)
			break
		}
	}
	closeErr := bi.Close(ctx)

	mu.Lock()
	defer mu.Unlock()
	var retry, permanent []ItemFailure
	for i, o := range outcomes {
		switch {
		case !o.done:
			reason := "no response for this document"
			if flushErr != nil {
				reason = flushErr.Error()
			} else if closeErr != nil {
				reason = closeErr.Error()
			}
			retry = append(retry, ItemFailure{Event: events[i], Reason: reason})
		case o.created:
			st.Created++
		case o.status == http.StatusConflict:
			st.Existing++
		case o.permanent:
			permanent = append(permanent, ItemFailure{Event: events[i], Status: o.status, Reason: o.reason})
		default:
			retry = append(retry, ItemFailure{Event: events[i], Status: o.status, Reason: o.reason})
		}
	}
	if addErr != nil && IsPermanent(addErr) {
		return st, addErr
	}
	if len(retry) > 0 || addErr != nil || closeErr != nil {
		// Retryable wins over permanent: the next attempt re-sends
		// everything, finds the stored documents (409) and reports the
		// permanent ones alone.
		return st, &RetryableError{Failed: len(retry), Total: len(events), First: firstReason(retry, addErr, closeErr), PermanentAlso: len(permanent)}
	}
	if len(permanent) > 0 {
		return st, &PermanentError{Failures: permanent}
	}
	return st, nil
}

// RetryableError says that some events are not stored yet for a reason a
// later attempt can overcome: Elasticsearch down or overloaded (429, 5xx),
// a transport error, a cancelled context.
type RetryableError struct {
	Failed, Total int
	First         string
	PermanentAlso int // events rejected permanently in the same attempt
}

func (e *RetryableError) Error() string {
	s := fmt.Sprintf("eslog: %d of %d event(s) not exported yet, retry: %s", e.Failed, e.Total, e.First)
	if e.PermanentAlso > 0 {
		s += fmt.Sprintf(" (and %d rejected permanently)", e.PermanentAlso)
	}
	return s
}

func firstReason(retry []ItemFailure, errs ...error) string {
	for _, err := range errs {
		if err != nil {
			return err.Error()
		}
	}
	if len(retry) > 0 {
		if retry[0].Status != 0 {
			return fmt.Sprintf("status %d: %s", retry[0].Status, retry[0].Reason)
		}
		return retry[0].Reason
	}
	return "unknown"
}

// classify decides what a failed bulk item means. 409 on create is success
// (exported before). Document-level rejections (400 mapping or parsing
// errors, 406, 422) are permanent. Everything else — 429, 5xx, a failed
// request, and 4xx statuses that clear up when an operator acts (403
// cluster blocks, 404 index auto-creation off) — is retried: a retry can
// never lose an event, a wrong "permanent" can.
func classify(res esutil.BulkIndexerResponseItem, err error) outcome {
	o := outcome{done: true, status: res.Status}
	if err != nil {
		o.reason = err.Error()
		return o
	}
	o.reason = strings.TrimSpace(res.Error.Type + ": " + res.Error.Reason)
	if res.Error.Cause.Type != "" {
		o.reason += " (caused by " + res.Error.Cause.Type + ": " + res.Error.Cause.Reason + ")"
	}
	if o.reason == ":" {
		o.reason = http.StatusText(res.Status)
	}
	switch res.Error.Type {
	case "mapper_parsing_exception", "document_parsing_exception", "strict_dynamic_mapping_exception", "illegal_argument_exception":
		o.permanent = true
	}
	switch res.Status {
	case http.StatusBadRequest, http.StatusNotAcceptable, http.StatusUnprocessableEntity:
		o.permanent = true
	}
	return o
}

func dedupe(events []Event) []Event {
	seen := make(map[string]bool, len(events))
	out := make([]Event, 0, len(events))
	for _, e := range events {
		id := e.ID()
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, e)
	}
	return out
}

// TemplateName is the name of the index template: the index prefix.
func (x *Elasticsearch) TemplateName() string { return x.prefix }

// Template is the composable index template (Elasticsearch 8
// _index_template API) for the daily indices: explicit mappings, keyword
// for ids and enumerations, date for @timestamp, integer for counters,
// text for the message and the error.
func Template(prefix string) map[string]any {
	if prefix == "" {
		prefix = DefaultIndexPrefix
	}
	kw := map[string]any{"type": "keyword"}
	integer := map[string]any{"type": "integer"}
	text := map[string]any{"type": "text"}
	return map[string]any{
		"index_patterns": []string{prefix + "-*"},
		"priority":       200,
		"template": map[string]any{
			"mappings": map[string]any{
				"properties": map[string]any{
					"@timestamp":          map[string]any{"type": "date"},
					"deployment":          kw,
					"workflowId":          kw,
					"runId":               kw,
					"kind":                kw,
					"step":                kw,
					"attempt":             integer,
					"level":               kw,
					"message":             text,
					"seq":                 integer,
					"revision":            integer,
					"rollbackOf":          integer,
					"imageRef":            kw,
					"imageDigest":         kw,
					"dagBundleVersion":    kw,
					"requestedBy":         kw,
					"requestedByVerified": map[string]any{"type": "boolean"},
					"error":               text,
				},
			},
		},
	}
}

// EnsureTemplate creates or updates the index template. Call it at worker
// start; Export also calls it once before its first bulk request if it has
// not succeeded yet, so a worker started while Elasticsearch is down still
// gets its mappings. A server without the _index_template API (404 or 405)
// is tolerated with a logged warning: documents then get dynamic mappings.
func (x *Elasticsearch) EnsureTemplate(ctx context.Context) error {
	x.templateMu.Lock()
	defer x.templateMu.Unlock()
	if err := x.putTemplate(ctx); err != nil {
		return err
	}
	x.templateDone = true
	return nil
}

func (x *Elasticsearch) ensureTemplateOnce(ctx context.Context) error {
	x.templateMu.Lock()
	defer x.templateMu.Unlock()
	if x.templateDone {
		return nil
	}
	if err := x.putTemplate(ctx); err != nil {
		return err
	}
	x.templateDone = true
	return nil
}

func (x *Elasticsearch) putTemplate(ctx context.Context) error {
	body, err := json.Marshal(Template(x.prefix))
	if err != nil {
		return err
	}
	res, err := esapi.IndicesPutIndexTemplateRequest{Name: x.TemplateName(), Body: bytes.NewReader(body)}.Do(ctx, x.client)
	if err != nil {
		return &RetryableError{Failed: 0, First: "index template: " + err.Error()}
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	switch {
	case !res.IsError():
		var ack struct {
			Acknowledged bool `json:"acknowledged"`
		}
		if json.Unmarshal(msg, &ack) != nil || !ack.Acknowledged {
			x.log.Debug("eslog: index template answered without acknowledgement; the server may not be Elasticsearch", "template", x.TemplateName(), "response", string(msg))
		}
		return nil
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusMethodNotAllowed:
		x.log.Warn("eslog: the server does not support index templates (_index_template); daily indices get dynamic mappings",
			"template", x.TemplateName(), "status", res.StatusCode)
		return nil
	case res.StatusCode == http.StatusBadRequest:
		return fmt.Errorf("eslog: index template %s rejected: %s", x.TemplateName(), msg)
	default:
		return &RetryableError{First: fmt.Sprintf("index template %s: %s %s", x.TemplateName(), res.Status(), msg)}
	}
}
