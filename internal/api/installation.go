package api

import (
	"context"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/store"
)

// installation is the workers' settings (action.Installation), serve's
// own while none are published; a failure to read them is logged.
func (s *Server) installation(ctx context.Context) store.Installation {
	in, err := action.Installation(ctx, s.opts.Store, s.opts.Config)
	if err != nil {
		s.log.Warn("reading the workers' published settings; showing serve's own", "error", err)
	}
	return in
}
