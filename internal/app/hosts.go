package app

import "github.com/rewindhq/rewind/internal/action"

// Host and PollerFresh are action's, named here for the callers that wire
// hosts (the tests of many hosts among them).
type Host = action.Host

const PollerFresh = action.PollerFresh
