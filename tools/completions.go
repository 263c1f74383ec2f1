package tools

// completion/complete for resource template parameters and prompt
// arguments that name a record: a contact, a template, a sequence, a flow,
// a deal stage, a language. Each vendor declares its lookups by kind in its
// tools/<vendor>.go (its contacts come from its part of crm_search_contacts)
// and they run on the same vendor client as its tools. An answer is at most
// CompletionValues values within CompletionBudget: a vendor that has not
// answered by then is left out (hasMore: true) rather than waited for, and
// its answer, when it comes, is cached for the next keystroke. Answers are
// cached per vendor credential for completionTTL; a whole answer for "pri"
// also answers "priy" without asking the vendor again.

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/vendors"
)

const (
	// CompletionValues is the most values one completion returns.
	CompletionValues = 10
	// CompletionBudget is how long a completion waits for the vendors.
	CompletionBudget = 300 * time.Millisecond
	// completionTTL is how long a vendor's answer is reused.
	completionTTL = 30 * time.Second
	// completionFetch is how many records a search asks a vendor for, and
	// completionBrowse how many of the newest it lists when nothing is
	// typed (or an id is); fewer in the answer means it holds every match.
	completionFetch  = 25
	completionBrowse = 100
	// completionFlights bounds the lookups running at once (their answers
	// only fill the cache once the caller has had its reply).
	completionFlights = 32
	// completionCacheSize bounds the cached answers.
	completionCacheSize = 4096
	// completionTyped bounds what is completed: no name or id is longer.
	completionTyped = 200
)

// Candidate is one record a completion may offer.
type Candidate struct {
	ID    string   // what a resource template's {id} takes
	Name  string   // what a prompt argument takes: a contact's or a template's name, a stage, a language
	Match []string // where a typed value is looked for (name, email, phone, ...), besides the id's and name's start
}

// Lookup finds records of one kind for completion.
type Lookup struct {
	// Find returns up to limit records matching query: found by the vendor
	// when Searches, otherwise every record (query is ""), for the
	// completer to filter.
	Find     func(ctx context.Context, query string, limit int) ([]Candidate, error)
	Searches bool
	// Partial: Find returns only some of the records (e.g. the newest page).
	Partial bool
}

// listLookup is a Lookup over a small list the vendor cannot search;
// list is a client method, e.g. (*qyvo.Client).ListFlows.
func listLookup[C, T any](c Clients[C], list func(C, context.Context) ([]T, error), conv func(T) Candidate) Lookup {
	return Lookup{Find: func(ctx context.Context, _ string, _ int) ([]Candidate, error) {
		cl, err := c(ctx)
		if err != nil {
			return nil, err
		}
		items, err := list(cl, ctx)
		out := make([]Candidate, 0, len(items))
		for _, it := range items {
			out = append(out, conv(it))
		}
		return out, err
	}}
}

// fixedLookup offers the same values for every credential (e.g. a
// vendor's built-in deal stages).
func fixedLookup(values ...string) Lookup {
	return Lookup{Find: func(context.Context, string, int) ([]Candidate, error) {
		out := make([]Candidate, len(values))
		for i, v := range values {
			out[i] = Candidate{ID: v, Name: v}
		}
		return out, nil
	}}
}

// contactLookup completes contacts with the vendor's part of crm_search_contacts.
func contactLookup(src ContactSource) Lookup {
	return Lookup{Searches: true, Find: func(ctx context.Context, q string, limit int) ([]Candidate, error) {
		cs, _, err := src.Search(ctx, q, limit)
		out := make([]Candidate, 0, len(cs))
		for _, c := range cs {
			name := cmp.Or(c.Name, c.Email, c.Phone, c.ID)
			out = append(out, Candidate{ID: c.ID, Name: name, Match: []string{c.Name, c.Email, c.Phone, c.Company}})
		}
		return out, err
	}}
}

// Lookups are one vendor's lookups by kind, and whose credential they use.
type Lookups struct {
	Vendor string
	Kinds  map[string]Lookup
	// Identity is a digest of the credential a call would use (the cache's
	// key); an error means the caller has none for this vendor.
	Identity func(context.Context) (string, error)
}

// identityOf is the digest of the credential c resolves to for a call.
func identityOf[C any](c Clients[C]) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		cl, err := c(ctx)
		if err != nil {
			return "", err
		}
		if id, ok := any(cl).(Identified); ok {
			return id.Identity(), nil
		}
		return "", nil
	}
}

// ArgCompletion says what completes a prompt argument: records of Kind
// from Vendors (every vendor offering the kind when empty), or Values.
type ArgCompletion struct {
	Kind    string
	Vendors []string
	Values  []string
}

// completer answers completion/complete (mcp-go's prompt and resource
// completion providers).
type completer struct {
	vendors   []string // in name order
	lookups   map[string]Lookups
	templates map[string]Resource                 // template URI -> resource
	prompts   map[string]map[string]ArgCompletion // prompt -> argument -> what completes it
	visible   func(context.Context, string) bool
	redactor  *vendors.Redactor
	log       *slog.Logger
	budget    time.Duration
	fill      time.Duration // how long a lookup may run to fill the cache

	mu      sync.Mutex
	cache   map[string]cached
	flights map[string]*flight
}

type cached struct {
	cands   []Candidate
	whole   bool // every match of the query is here
	expires time.Time
}

type flight struct {
	done chan struct{}
	res  cached
	err  error
}

func newCompleter(o ServerOptions) *completer {
	c := &completer{lookups: map[string]Lookups{}, templates: map[string]Resource{}, prompts: o.PromptCompletions,
		visible: o.Visible, redactor: o.Redactor, log: o.Logger, budget: CompletionBudget, fill: o.CallTimeout,
		cache: map[string]cached{}, flights: map[string]*flight{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.fill <= 0 || c.fill > time.Minute {
		c.fill = 30 * time.Second
	}
	for _, l := range o.Lookups {
		c.lookups[l.Vendor] = l
		c.vendors = append(c.vendors, l.Vendor)
	}
	slices.Sort(c.vendors)
	for _, r := range o.Resources {
		if r.IsTemplate() {
			c.templates[r.URI] = r
		}
	}
	return c
}

// CompletePromptArgument implements server.PromptCompletionProvider.
func (c *completer) CompletePromptArgument(ctx context.Context, prompt string, arg mcp.CompleteArgument, given mcp.CompleteContext) (*mcp.Completion, error) {
	spec, ok := c.prompts[prompt][arg.Name]
	switch {
	case !ok:
		return &mcp.Completion{Values: []string{}}, nil
	case len(spec.Values) > 0:
		var out []string
		for _, v := range spec.Values {
			if hasPrefixFold(v, arg.Value) {
				out = append(out, v)
			}
		}
		return limitValues(out, false), nil
	}
	from := spec.Vendors
	if len(from) == 0 {
		from = c.vendors
	}
	if v := given.Arguments["vendor"]; slices.Contains(from, v) { // a vendor argument already given narrows the others
		from = []string{v}
	}
	return c.complete(ctx, from, spec.Kind, arg.Value, false), nil
}

// CompleteResourceArgument implements server.ResourceCompletionProvider.
func (c *completer) CompleteResourceArgument(ctx context.Context, uri string, arg mcp.CompleteArgument, _ mcp.CompleteContext) (*mcp.Completion, error) {
	r, ok := c.templates[uri]
	kind := r.Complete[arg.Name]
	if !ok || kind == "" {
		return &mcp.Completion{Values: []string{}}, nil
	}
	return c.complete(ctx, []string{r.Vendor}, kind, arg.Value, true), nil
}

// complete asks each vendor in from (that the caller may use and that
// offers kind) at once and answers with what came back within the budget:
// ids (for a template's {id}) or names, best matches first.
func (c *completer) complete(ctx context.Context, from []string, kind, typed string, ids bool) *mcp.Completion {
	if len(typed) > completionTyped {
		return limitValues(nil, false)
	}
	deadline := time.Now().Add(c.budget)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if vendors.RedactorFrom(ctx) == nil {
		ctx = vendors.WithRedactor(ctx, c.redactor)
	}
	type answer struct {
		cands []Candidate
		whole bool
	}
	answers := make([]answer, len(from))
	var wg sync.WaitGroup
	for i, v := range from {
		l, ok := c.lookups[v]
		find, offers := l.Kinds[kind]
		if !ok || !offers || c.visible != nil && !c.visible(ctx, v) {
			answers[i].whole = true
			continue
		}
		id, err := l.Identity(ctx)
		if err != nil { // no credentials for this vendor on this call
			answers[i].whole = true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].cands, answers[i].whole = c.candidates(ctx, deadline, v+"\x00"+kind+"\x00"+id, find, typed, ids)
		}()
	}
	wg.Wait()
	var all []Candidate
	whole := true
	for _, a := range answers {
		whole = whole && a.whole
		all = append(all, a.cands...)
	}
	// Records whose id or name starts with what was typed come first.
	q := strings.TrimSpace(typed)
	slices.SortStableFunc(all, func(a, b Candidate) int {
		return boolRank(startsWith(b, q, ids)) - boolRank(startsWith(a, q, ids))
	})
	red := vendors.RedactorFrom(ctx)
	var values []string
	seen := map[string]bool{}
	for _, cd := range all {
		v := cd.Name
		if ids || v == "" {
			v = cd.ID
		}
		if v = red.Redact(v); v != "" && !seen[v] {
			seen[v] = true
			values = append(values, v)
		}
	}
	return limitValues(values, !whole)
}

// candidates are the records of one vendor lookup that match typed, from
// the cache or, within the deadline, from the vendor; whole is false when
// some may be missing (the vendor was late, failed, or had more).
func (c *completer) candidates(ctx context.Context, deadline time.Time, key string, l Lookup, typed string, ids bool) ([]Candidate, bool) {
	q := strings.ToLower(strings.TrimSpace(typed))
	queries := []string{""}
	if l.Searches && q != "" {
		queries = []string{q}
		if ids { // an id is not what a vendor searches: look among the newest too
			queries = append(queries, "")
		}
	}
	var out []Candidate
	whole := true
	for _, query := range queries {
		got, ok := c.lookup(ctx, deadline, key, l, query)
		whole = whole && ok && got.whole
		out = append(out, got.cands...)
	}
	return slices.DeleteFunc(out, func(cd Candidate) bool { return !candidateMatches(cd, q, ids) }), whole
}

// lookup is the vendor's answer to query: cached (its own, or a whole
// answer to a shorter query, which holds every match of this one), or
// fetched by a flight shared with concurrent callers and awaited no later
// than deadline. ok is false when the answer did not come in time.
func (c *completer) lookup(ctx context.Context, deadline time.Time, key string, l Lookup, query string) (cached, bool) {
	now := time.Now()
	c.mu.Lock()
	for i := len(query); i >= 0; i-- {
		if e, hit := c.cache[key+"\x00"+query[:i]]; hit && now.Before(e.expires) && (i == len(query) || e.whole) {
			c.mu.Unlock()
			return e, true
		}
		if !l.Searches {
			break
		}
	}
	fkey := key + "\x00" + query
	f := c.flights[fkey]
	if f == nil {
		if len(c.flights) >= completionFlights {
			c.mu.Unlock()
			return cached{}, false
		}
		f = &flight{done: make(chan struct{})}
		c.flights[fkey] = f
		go c.run(ctx, fkey, f, l, query)
	}
	c.mu.Unlock()
	wait, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	select {
	case <-f.done:
		return f.res, f.err == nil
	case <-wait.Done():
		return cached{}, false
	}
}

// run fetches one lookup's answer, on the caller's credentials and values
// but not its cancellation, so that a late answer still fills the cache.
func (c *completer) run(ctx context.Context, fkey string, f *flight, l Lookup, query string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.fill)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			f.err = errors.New("lookup panicked")
			c.log.Error("completion lookup panicked", "panic", p)
		}
		c.mu.Lock()
		delete(c.flights, fkey)
		if f.err == nil {
			if len(c.cache) >= completionCacheSize {
				c.evict()
			}
			c.cache[fkey] = f.res
		}
		c.mu.Unlock()
		close(f.done)
	}()
	limit := completionFetch
	if query == "" {
		limit = completionBrowse
	}
	cands, err := l.Find(ctx, query, limit)
	if err != nil {
		f.err = err
		c.log.Debug("completion lookup failed", "error", vendors.RedactorFrom(ctx).Redact(err.Error()))
		return
	}
	f.res = cached{cands: cands, whole: !l.Partial && (!l.Searches || len(cands) < limit), expires: time.Now().Add(completionTTL)}
}

// evict drops expired answers, or all of them if none has expired: the
// cache stays bounded whatever callers type. c.mu is held.
func (c *completer) evict() {
	now := time.Now()
	for k, e := range c.cache {
		if !now.Before(e.expires) {
			delete(c.cache, k)
		}
	}
	if len(c.cache) >= completionCacheSize {
		clear(c.cache)
	}
}

// candidateMatches: every record matches nothing typed; otherwise the id
// (for ids) or the name starts with it, or a field contains it.
func candidateMatches(cd Candidate, q string, ids bool) bool {
	return q == "" || startsWith(cd, q, ids) || matches(q, cd.Match...) || matches(q, cd.Name)
}

func startsWith(cd Candidate, q string, ids bool) bool {
	if ids {
		return hasPrefixFold(cd.ID, q) || hasPrefixFold(cd.Name, q)
	}
	return hasPrefixFold(cd.Name, q)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// limitValues is a completion of at most CompletionValues values.
func limitValues(values []string, partial bool) *mcp.Completion {
	out := &mcp.Completion{Values: values, HasMore: partial}
	if values == nil {
		out.Values = []string{}
	}
	if len(values) > CompletionValues {
		out.Values, out.HasMore = values[:CompletionValues], true
	}
	if !partial {
		out.Total = len(values)
	}
	return out
}
