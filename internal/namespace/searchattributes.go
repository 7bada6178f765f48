// Package namespace holds what rewind keeps in its Temporal namespace
// besides workflows: the search attributes its changes carry (SPEC §3) and
// the cleanup schedule (R12). Workers set both up at start; the CLI and
// the API use them when a fresh server has none yet, or to reset the
// schedule on purpose.
package namespace

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/workflows"
)

// searchAttributes are SPEC §3's, with their types.
var searchAttributes = map[string]enumspb.IndexedValueType{
	workflows.AttrDeployment.GetName():          enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	workflows.AttrKind.GetName():                enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	workflows.AttrRevision.GetName():            enumspb.INDEXED_VALUE_TYPE_INT,
	workflows.AttrRequestedBy.GetName():         enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	workflows.AttrRequestedByVerified.GetName(): enumspb.INDEXED_VALUE_TYPE_BOOL,
}

// EnsureSearchAttributes registers the missing search attributes, so any
// Temporal server works without a manual `temporal operator` step.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("listing search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range searchAttributes {
		if got, ok := have.GetCustomAttributes()[name]; ok {
			if got != typ {
				return fmt.Errorf("search attribute %s exists as %s, rewind needs %s", name, got, typ)
			}
			continue
		}
		missing[name] = typ
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	if err != nil {
		return fmt.Errorf("registering search attributes: %w", err)
	}
	return nil
}
