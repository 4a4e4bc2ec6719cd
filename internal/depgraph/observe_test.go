package depgraph

import (
	"strings"
	"testing"
)

// TestObserveImportsOnlyEventstore: every component may import
// eventstore/observe because it depends on nothing but the standard
// library and package eventstore.
func TestObserveImportsOnlyEventstore(t *testing.T) {
	root := moduleRoot(t)
	const rel = "eventstore/observe"
	if !exists(root, rel) {
		t.Skipf("package %s does not exist yet", rel)
	}
	graph := load(t, root, []string{rel})
	for _, bad := range outside(graph, rel, module+"/eventstore") {
		t.Errorf("%s depends on %s; it may import only the standard library and %s/eventstore", rel, bad, module)
	}
	// The check can fail: the Kafka store depends on more.
	if got := outside(load(t, root, []string{"eventstore/kafka"}), "eventstore/kafka", module+"/eventstore"); len(got) == 0 {
		t.Fatal("checker found nothing outside the standard library for eventstore/kafka")
	}
}

// outside returns the packages that rel depends on that are neither in
// the standard library (no dot in the first path element) nor allowed.
func outside(graph map[string]pkg, rel string, allowed ...string) []string {
	var out []string
	for path := range graph {
		first, _, _ := strings.Cut(path, "/")
		if !strings.Contains(first, ".") || path == module+"/"+rel {
			continue
		}
		ok := false
		for _, a := range allowed {
			if path == a {
				ok = true
			}
		}
		if !ok {
			out = append(out, path)
		}
	}
	return out
}
