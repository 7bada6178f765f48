package cli

import (
	"context"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/client"
)

// invoke runs one of internal/action's use cases through the door this
// session uses: store-direct, action.Run here for the requester (claimed,
// not verified: the database URL is administration); through rewind
// serve, the typed client's method for it, which the server answers with
// action.Run for the token's user. A command calls it with the use case
// and the client method, and nothing else differs between the two paths.
func invoke[R any, U action.UseCase[R]](s *session, uc U, viaServe func(*client.Client, context.Context, U) (R, error)) (R, error) {
	var zero R
	be, err := s.backend()
	if err != nil {
		return zero, err
	}
	if r, ok := be.(*remote); ok {
		return viaServe(r.c, s.ctx, uc)
	}
	env, err := s.env()
	if err != nil {
		return zero, err
	}
	return action.Run[R](s.ctx, env, action.Actor{User: s.requester()}, uc)
}

// env is what use cases run against store-direct: this session's
// configuration and store, and Temporal dialled only when one asks it.
func (s *session) env() (action.Env, error) {
	cfg, err := s.config()
	if err != nil {
		return action.Env{}, err
	}
	st, err := s.store()
	if err != nil {
		return action.Env{}, err
	}
	dc, err := app.DataConverter(cfg)
	if err != nil {
		return action.Env{}, err
	}
	return action.Env{Config: cfg, Store: st, Dial: s.temporal, DataConverter: dc}, nil
}
