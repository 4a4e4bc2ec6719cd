package avro

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/riferrei/srclient"
)

// Schema references: a registered schema may use named types defined in
// other subjects ("references": [{"name", "subject", "version"}]). goavro
// needs one self-contained schema, so the serde fetches the referenced
// schemas (recursively), parses them into one namespace and writes the
// writer's schema back out with every named type defined inline at its
// first use.

// maxRefDepth bounds reference chains (a → b → c ...).
const maxRefDepth = 32

// parseWithRefs parses text after the schemas in refs (already fetched,
// dependencies first) and returns the parsed schema and a self-contained
// schema text.
func parseWithRefs(refs []string, text string) (*Schema, string, error) {
	p := &parser{named: map[string]*Schema{}}
	for i, r := range refs {
		var raw any
		dec := json.NewDecoder(strings.NewReader(r))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return nil, "", fmt.Errorf("avro: referenced schema %d is not valid JSON: %v", i+1, err)
		}
		if _, err := p.parse(raw, ""); err != nil {
			return nil, "", fmt.Errorf("avro: referenced schema %d: %w", i+1, err)
		}
	}
	var raw any
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, "", fmt.Errorf("avro: schema is not valid JSON: %v", err)
	}
	s, err := p.parse(raw, "")
	if err != nil {
		return nil, "", fmt.Errorf("avro: invalid schema: %w", err)
	}
	b, err := json.Marshal(schemaJSON(s, map[*Schema]bool{}))
	if err != nil {
		return nil, "", err
	}
	return s, string(b), nil
}

// schemaJSON returns s as a JSON value with every named type defined at
// its first occurrence and referenced by full name afterwards.
func schemaJSON(s *Schema, defined map[*Schema]bool) any {
	if s.isNamed() {
		if defined[s] {
			return s.Name
		}
		defined[s] = true
	}
	withLogical := func(m map[string]any) any {
		if s.Logical != "" {
			m["logicalType"] = s.Logical
			if s.Logical == "decimal" {
				m["precision"], m["scale"] = s.Precision, s.Scale
			}
		}
		return m
	}
	switch s.Kind {
	case Union:
		out := make([]any, len(s.Branches))
		for i, b := range s.Branches {
			out[i] = schemaJSON(b, defined)
		}
		return out
	case Record:
		fields := make([]any, len(s.Fields))
		for i, f := range s.Fields {
			fm := map[string]any{"name": f.Name, "type": schemaJSON(f.Type, defined)}
			if f.HasDefault {
				fm["default"] = f.Default
			}
			if len(f.Aliases) > 0 {
				fm["aliases"] = f.Aliases
			}
			fields[i] = fm
		}
		m := map[string]any{"type": "record", "name": s.Name, "fields": fields}
		if len(s.Aliases) > 0 {
			m["aliases"] = s.Aliases
		}
		return m
	case Enum:
		m := map[string]any{"type": "enum", "name": s.Name, "symbols": append([]string{}, s.Symbols...)}
		if s.EnumDefault != "" {
			m["default"] = s.EnumDefault
		}
		if len(s.Aliases) > 0 {
			m["aliases"] = s.Aliases
		}
		return m
	case Fixed:
		m := map[string]any{"type": "fixed", "name": s.Name, "size": s.Size}
		if len(s.Aliases) > 0 {
			m["aliases"] = s.Aliases
		}
		return withLogical(m)
	case Array:
		return map[string]any{"type": "array", "items": schemaJSON(s.Items, defined)}
	case Map:
		return map[string]any{"type": "map", "values": schemaJSON(s.Values, defined)}
	}
	if s.Logical != "" {
		return withLogical(map[string]any{"type": s.Kind.String()})
	}
	return s.Kind.String()
}

// referencedSchemas fetches the schemas refs point to, recursively,
// dependencies first, each subject/version once.
func (r *registryClient) referencedSchemas(ctx context.Context, refs []srclient.Reference, seen map[string]bool, depth int) ([]string, error) {
	if depth > maxRefDepth {
		return nil, fmt.Errorf("avro: schema references nest deeper than %d levels", maxRefDepth)
	}
	var out []string
	for _, ref := range refs {
		key := fmt.Sprintf("%s/%d", ref.Subject, ref.Version)
		if seen[key] {
			continue
		}
		seen[key] = true
		var s *srclient.Schema
		err := r.call(ctx, fmt.Sprintf("get version %d of subject %s", ref.Version, ref.Subject), func() (err error) {
			s, err = r.c.GetSchemaByVersion(ref.Subject, ref.Version)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("avro: referenced schema %s (subject %s version %d): %w", ref.Name, ref.Subject, ref.Version, err)
		}
		deps, err := r.referencedSchemas(ctx, s.References(), seen, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(append(out, deps...), s.Schema())
	}
	return out, nil
}
