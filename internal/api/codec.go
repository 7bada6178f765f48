package api

import (
	"net/http"
	"slices"

	"go.temporal.io/sdk/converter"

	"github.com/rewindhq/rewind/internal/codec"
	"github.com/rewindhq/rewind/internal/domain"
)

// The codec endpoint lets the Temporal UI and `temporal … --codec-endpoint
// URL/codec` show encrypted payloads to the people allowed to read them:
// POST /codec/decode and /codec/encode with Temporal's Payloads JSON,
// served by the SDK's own handler over rewind's payload codec.
//
// It is not in apiRoutes, and so not in the OpenAPI document, because it
// is Temporal's protocol rather than rewind's API: the SDK's handler owns
// the bodies and errors, a browser's CORS preflight must reach it without
// credentials, and the Temporal UI authenticates with rewind's page session
// cookie ("include cross-origin credentials") since it cannot send a rewind
// token.
const (
	codecEncodePath = "/codec/encode"
	codecDecodePath = "/codec/decode"
	// Temporal limits a payload to 2 MiB by default; a request carries a
	// few of them.
	codecMaxBodyBytes = 16 << 20
)

func (s *Server) registerCodec() error {
	keys, err := s.opts.Config.PayloadKeyring()
	if err != nil {
		return err
	}
	var codecs []converter.PayloadCodec
	if keys != nil {
		codecs = append(codecs, codec.New(keys))
	}
	// Without keys nothing is encrypted: decode passes payloads through, so
	// a UI pointed here still shows them.
	h := s.codecHandler(converter.NewPayloadCodecHTTPHandler(codecs...))
	s.mux.Handle(codecEncodePath, h)
	s.mux.Handle(codecDecodePath, h)
	return nil
}

// codecHandler answers CORS preflights, then authenticates (a bearer token,
// or the page's session cookie), checks REWIND_CODEC_USERS and hands the
// request to the SDK's handler. Who used it is logged at debug level;
// payloads never are.
func (s *Server) codecHandler(inner http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowed := s.codecCORS(w, r)
		if r.Method == http.MethodOptions {
			if !allowed {
				writeJSONError(w, http.StatusForbidden, string(domain.PermissionDenied), "origin not allowed: add it to REWIND_CODEC_CORS_ORIGINS")
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST, OPTIONS")
			writeJSONError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "the codec endpoint takes POST")
			return
		}
		user, err := s.codecUser(r, allowed)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rewind"`)
			setRetryAfter(w, err)
			writeError(w, s.log, err)
			return
		}
		users := s.opts.Config.CodecUsers
		if !slices.Contains(users, user) && !slices.Contains(users, "*") {
			writeJSONError(w, http.StatusForbidden, string(domain.PermissionDenied),
				user+" may not use the codec endpoint: an operator adds them to REWIND_CODEC_USERS")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, codecMaxBodyBytes)
		// The UI calls once per payload shown: at debug level, for an audit.
		s.log.Debug("codec endpoint used", "user", user, "path", r.URL.Path, "namespace", r.Header.Get("X-Namespace"))
		w.Header().Set("Cache-Control", "no-store")
		inner.ServeHTTP(w, r)
	})
}

// codecUser is the bearer token's user or, without an Authorization
// header, the page session's. The session counts only on a request from an
// allowed origin (the Temporal UI), so no other page a person visits can
// spend it.
func (s *Server) codecUser(r *http.Request, allowedOrigin bool) (string, error) {
	if r.Header.Get("Authorization") == "" && allowedOrigin {
		if ss, ok := s.sessionFrom(r); ok {
			return ss.User, nil
		}
	}
	return s.bearerUser(r)
}

// codecCORS allows the configured origins (the Temporal UI's) to call the
// endpoint with credentials, and reports whether the request's origin is
// one of them. Other origins get no CORS headers, so browsers keep the
// responses from them.
func (s *Server) codecCORS(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !slices.Contains(s.opts.Config.CodecCORSOrigins, origin) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
		h.Set("Access-Control-Max-Age", "600")
	}
	return true
}
