package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// MetricsQuery says which changes the delivery metrics count: those that
// finished (DEPLOYED or FAILED) in [Since, Until), on Deployments (nil: every
// deployment; empty: none), with the trend cut into Bucket-long slices from
// Since. The definitions are in docs/metrics.md.
type MetricsQuery struct {
	Since, Until time.Time
	Deployments  []string
	Bucket       time.Duration
}

// DeliveryCounts are what the metrics are made of, for one deployment or
// for all those asked about.
type DeliveryCounts struct {
	// Deploys are ordinary deploys (not rollbacks) that ended DEPLOYED;
	// FailedDeploys those that ended FAILED; RolledBack the DEPLOYED ones
	// a DEPLOYED rollback moved away from (its rolled_back_from).
	Deploys, FailedDeploys, RolledBack int
	// Rollbacks ended DEPLOYED; AutomaticRollbacks are those the bake
	// requested (domain.AutomaticRequester).
	Rollbacks, AutomaticRollbacks int
	// ForcedDeploys are DEPLOYED deploys forced past a rollback's guard.
	ForcedDeploys int
	// LeadTimeMissing are DEPLOYED deploys left out of lead time: no
	// commit time recorded, or one after the deploy finished.
	LeadTimeMissing int
}

func (c *DeliveryCounts) add(o DeliveryCounts) {
	c.Deploys += o.Deploys
	c.FailedDeploys += o.FailedDeploys
	c.RolledBack += o.RolledBack
	c.Rollbacks += o.Rollbacks
	c.AutomaticRollbacks += o.AutomaticRollbacks
	c.ForcedDeploys += o.ForcedDeploys
	c.LeadTimeMissing += o.LeadTimeMissing
}

// Percentiles of durations, nearest-rank: the median is the value at rank
// ceil(n/2), p90 at ceil(0.9 n), of the n values sorted. Zero when N is 0.
type Percentiles struct {
	N      int           `json:"count"`
	Median time.Duration `json:"median"`
	P90    time.Duration `json:"p90"`
}

// TrendBucket is one slice of the window.
type TrendBucket struct {
	Start time.Time
	DeliveryCounts
}

// DeliveryFigures are one scope's counts, lead time and recovery time, and
// its trend (every bucket of the window, empty ones included).
type DeliveryFigures struct {
	DeliveryCounts
	LeadTime Percentiles
	Recovery Percentiles
	Trend    []TrendBucket
}

// DeliveryMetrics are the figures across the deployments asked about and
// per deployment (those with at least one change in the window).
type DeliveryMetrics struct {
	All           DeliveryFigures
	PerDeployment map[string]DeliveryFigures
}

// MaxMetricsBuckets bounds the trend, whatever the window and bucket.
const MaxMetricsBuckets = 400

// DeliveryMetrics computes the figures in three statements, each grouped
// per deployment and walked once more for the total: counts per bucket,
// lead time percentiles, recovery percentiles. Each reads only the changes
// that finished in the window, through revisions_deployment_finished or
// revisions_finished (migration 00017), and finds rollbacks through
// revisions_rolled_back_from, so the cost follows the window, not the
// history's size.
func (s *Store) DeliveryMetrics(ctx context.Context, q MetricsQuery) (DeliveryMetrics, error) {
	out := DeliveryMetrics{PerDeployment: map[string]DeliveryFigures{}}
	if q.Bucket <= 0 || !q.Until.After(q.Since) {
		return out, domain.Errorf(domain.InvalidInput, "metrics: the window must be positive and the bucket too")
	}
	nb := int((q.Until.Sub(q.Since) + q.Bucket - 1) / q.Bucket)
	if nb > MaxMetricsBuckets {
		return out, domain.Errorf(domain.InvalidInput, "metrics: %d trend buckets is more than %d; widen the bucket", nb, MaxMetricsBuckets)
	}
	out.All = emptyFigures(q, nb)
	if q.Deployments != nil && len(q.Deployments) == 0 {
		return out, nil
	}
	args := []any{micros(q.Since), micros(q.Until), string(domain.StatusDeployed)}
	where := `d.finished_at >= $1 AND d.finished_at < $2`
	if q.Deployments != nil {
		ph := make([]string, len(q.Deployments))
		for i, id := range q.Deployments {
			args = append(args, id)
			ph[i] = fmt.Sprintf("$%d", len(args))
		}
		where += ` AND d.deployment_id IN (` + strings.Join(ph, ",") + `)`
	}
	// A deploy was rolled back when a rollback that ended DEPLOYED (before
	// the window's end) names it as what it moved away from.
	rolledBack := `EXISTS (SELECT 1 FROM revisions r WHERE r.deployment_id = d.deployment_id AND r.rolled_back_from = d.number
		AND r.rolled_back_from > 0 AND r.rollback_of > 0 AND r.status = $3 AND r.finished_at < $2)`
	n := len(args)
	countArgs := append(append([]any{}, args...), micros(q.Since), q.Bucket.Microseconds(), domain.AutomaticRequester, string(domain.StatusFailed))
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT d.deployment_id, (d.finished_at - $%[1]d) / $%[2]d AS b,
		SUM(CASE WHEN d.rollback_of = 0 AND d.status = $3 THEN 1 ELSE 0 END),
		SUM(CASE WHEN d.rollback_of = 0 AND d.status = $%[6]d THEN 1 ELSE 0 END),
		SUM(CASE WHEN d.rollback_of = 0 AND d.status = $3 AND %[3]s THEN 1 ELSE 0 END),
		SUM(CASE WHEN d.rollback_of > 0 AND d.status = $3 THEN 1 ELSE 0 END),
		SUM(CASE WHEN d.rollback_of > 0 AND d.status = $3 AND d.created_by = $%[4]d THEN 1 ELSE 0 END),
		SUM(CASE WHEN d.rollback_of = 0 AND d.status = $3 AND d.forced_past > 0 THEN 1 ELSE 0 END),
		SUM(CASE WHEN d.rollback_of = 0 AND d.status = $3 AND (d.git_committed_at <= 0 OR d.git_committed_at > d.finished_at) THEN 1 ELSE 0 END)
		FROM revisions d WHERE %[5]s GROUP BY d.deployment_id, b`, n+1, n+2, rolledBack, n+3, where, n+4), countArgs...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			dep string
			b   int64
			c   DeliveryCounts
		)
		if err := rows.Scan(&dep, &b, &c.Deploys, &c.FailedDeploys, &c.RolledBack, &c.Rollbacks, &c.AutomaticRollbacks,
			&c.ForcedDeploys, &c.LeadTimeMissing); err != nil {
			return out, err
		}
		f, ok := out.PerDeployment[dep]
		if !ok {
			f = emptyFigures(q, nb)
		}
		f.DeliveryCounts.add(c)
		out.All.DeliveryCounts.add(c)
		if b >= 0 && int(b) < nb {
			f.Trend[b].add(c)
			out.All.Trend[b].add(c)
		}
		out.PerDeployment[dep] = f
	}
	if err := rows.Err(); err != nil {
		return out, err
	}
	rows.Close()

	// Lead time: DEPLOYED deploys with a commit time no later than the
	// deploy's end, from that time to the end.
	lead := `SELECT d.deployment_id AS k, d.finished_at - d.git_committed_at AS v FROM revisions d
		WHERE ` + where + ` AND d.rollback_of = 0 AND d.status = $3 AND d.git_committed_at > 0 AND d.git_committed_at <= d.finished_at`
	// Recovery: a rolled-back deploy's landing to its rollback's.
	recovery := `SELECT d.deployment_id AS k, r.finished_at - d.finished_at AS v FROM revisions d
		JOIN revisions r ON r.deployment_id = d.deployment_id AND r.rolled_back_from = d.number AND r.rolled_back_from > 0
			AND r.rollback_of > 0 AND r.status = $3 AND r.finished_at < $2
		WHERE ` + where + ` AND d.rollback_of = 0 AND d.status = $3`
	for _, p := range []struct {
		sql string
		set func(f *DeliveryFigures, p Percentiles)
	}{
		{lead, func(f *DeliveryFigures, p Percentiles) { f.LeadTime = p }},
		{recovery, func(f *DeliveryFigures, p Percentiles) { f.Recovery = p }},
	} {
		per, all, err := s.percentiles(ctx, p.sql, args)
		if err != nil {
			return out, err
		}
		for dep, v := range per {
			f, ok := out.PerDeployment[dep]
			if !ok {
				f = emptyFigures(q, nb)
			}
			p.set(&f, v)
			out.PerDeployment[dep] = f
		}
		p.set(&out.All, all)
	}
	return out, nil
}

// percentiles computes nearest-rank medians and p90s of the (k, v) rows
// values selects, per k and over all rows, in SQL with window functions
// (ROW_NUMBER over the sorted values; SQLite has no percentile function).
func (s *Store) percentiles(ctx context.Context, values string, args []any) (map[string]Percentiles, Percentiles, error) {
	ranked := func(part string) string {
		return `SELECT k, v, ROW_NUMBER() OVER (` + part + ` ORDER BY v) AS rn, COUNT(*) OVER (` + part + `) AS n FROM vals`
	}
	pick := `MAX(n), MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN v END), MAX(CASE WHEN rn = (90 * n + 99) / 100 THEN v END)`
	q := `WITH vals AS (` + values + `),
		per AS (` + ranked("PARTITION BY k") + `),
		every AS (` + ranked("") + `)
		SELECT k, ` + pick + ` FROM per GROUP BY k
		UNION ALL
		SELECT NULL, ` + pick + ` FROM every`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, Percentiles{}, err
	}
	defer rows.Close()
	per := map[string]Percentiles{}
	var all Percentiles
	for rows.Next() {
		var (
			k      *string
			n      *int64
			m, p90 *int64
		)
		if err := rows.Scan(&k, &n, &m, &p90); err != nil {
			return nil, all, err
		}
		p := Percentiles{}
		if n != nil && *n > 0 {
			p.N = int(*n)
			p.Median = time.Duration(deref(m)) * time.Microsecond
			p.P90 = time.Duration(deref(p90)) * time.Microsecond
		}
		if k == nil {
			all = p
		} else {
			per[*k] = p
		}
	}
	return per, all, rows.Err()
}

func deref(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}

func emptyFigures(q MetricsQuery, nb int) DeliveryFigures {
	f := DeliveryFigures{Trend: make([]TrendBucket, nb)}
	for i := range f.Trend {
		f.Trend[i].Start = q.Since.Add(time.Duration(i) * q.Bucket).UTC()
	}
	return f
}

// DeploymentIDs sorts the per-deployment keys, for stable output.
func (m DeliveryMetrics) DeploymentIDs() []string {
	ids := make([]string, 0, len(m.PerDeployment))
	for id := range m.PerDeployment {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
