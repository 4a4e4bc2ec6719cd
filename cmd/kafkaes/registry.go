package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/riferrei/srclient"

	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/pii"
)

// registry decodes Confluent-framed Avro payloads with schemas fetched by
// ID from a Schema Registry. Codecs are built with goavro from the schema
// text (never srclient's Schema.Codec, which is racy and nil for schemas
// with references); schema references are resolved by inlining the
// referenced schemas. Schemas by ID are immutable, so they are cached for
// the life of the process.
type registry struct {
	url    string
	client *srclient.SchemaRegistryClient
	// decrypt, when set (--key-topic), decrypts the personal-data fields
	// of decoded records (see decryptPII).
	decrypt *pii.Encryptor
	ctx     context.Context

	mu     sync.Mutex
	codecs map[int]codecEntry
}

type codecEntry struct {
	codec *goavro.Codec
	// schema orders the fields of decoded records; nil if it did not parse.
	schema *avro.Schema
	// pii are the top-level fields marked "kafkaes.pii" (encrypted
	// personal data).
	pii []*avro.Field
	err error
}

// newRegistry returns a registry client for url with the security
// options of the flags (avro.NewClient: TLS, basic auth, bearer token;
// credentials in the URL become basic auth). r.url, which messages show,
// has its password redacted.
func newRegistry(url string, timeout time.Duration, opts ...avro.ClientOption) *registry {
	c := avro.NewClient(url, timeout, opts...)
	c.CachingEnabled(true) // by ID and by subject+version: both immutable
	return &registry{url: avro.RedactURL(strings.TrimSuffix(url, "/")), client: c, codecs: map[int]codecEntry{}}
}

// errNotFramed means a payload is not in the Confluent wire format.
var errNotFramed = errors.New("payload is not in the Confluent wire format (magic byte 0x00 and a 4-byte schema ID)")

// schemaID returns the schema ID of a Confluent-framed payload.
func schemaID(value []byte) (int, bool) {
	if len(value) < 5 || value[0] != 0 {
		return 0, false
	}
	return int(uint32(value[1])<<24 | uint32(value[2])<<16 | uint32(value[3])<<8 | uint32(value[4])), true
}

// decode decodes a Confluent-framed Avro payload into JSON for people (see
// render). With r.decrypt set, personal-data fields are decrypted, and
// redacted lists those whose subject was erased (they show their zero
// value).
func (r *registry) decode(value []byte) (id int, data json.RawMessage, redacted []string, err error) {
	id, ok := schemaID(value)
	if !ok {
		return 0, nil, nil, errNotFramed
	}
	ce := r.codec(id)
	if ce.err != nil {
		return id, nil, nil, ce.err
	}
	codec := ce.codec
	native, rest, err := codec.NativeFromBinary(value[5:])
	if err != nil {
		return id, nil, nil, fmt.Errorf("avro body does not decode with schema ID %d: %w", id, err)
	}
	if len(rest) > 0 {
		return id, nil, nil, fmt.Errorf("avro body has %d bytes left over after decoding with schema ID %d (written with another schema?)", len(rest), id)
	}
	if r.decrypt != nil && len(ce.pii) > 0 {
		if redacted, err = r.decryptPII(ce, native); err != nil {
			return id, nil, nil, err
		}
	}
	var buf bytes.Buffer
	render(&buf, ce.schema, native)
	return id, buf.Bytes(), redacted, nil
}

// decryptPII replaces the envelopes in the personal-data fields of a
// decoded record with their plaintext, or with the zero value when the
// subject was erased (those fields are returned). A field that does not
// authenticate is an error.
func (r *registry) decryptPII(ce codecEntry, native any) ([]string, error) {
	m, ok := native.(map[string]any)
	if !ok {
		return nil, nil
	}
	var redactedFields []string
	for _, f := range ce.pii {
		subject, _ := m[f.PII.Subject].(string)
		switch v := m[f.Name].(type) {
		case string:
			plain, redacted, err := r.decrypt.DecryptText(r.ctx, subject, f.PII.Label, v)
			if err != nil {
				return nil, err
			}
			m[f.Name] = plain
			if redacted {
				redactedFields = append(redactedFields, f.Name)
			}
		case []byte:
			plain, redacted, err := r.decrypt.DecryptBytes(r.ctx, subject, f.PII.Label, v)
			if err != nil {
				return nil, err
			}
			if plain == nil {
				plain = []byte{}
			}
			m[f.Name] = plain
			if redacted {
				redactedFields = append(redactedFields, f.Name)
			}
		}
	}
	return redactedFields, nil
}

// plaintextPII returns the names of the fields of an Avro payload that
// its schema marks as encrypted personal data ("kafkaes.pii") but that
// hold plaintext instead of an envelope. Empty values are not plaintext.
// It decodes only payloads whose schema has such fields.
func (r *registry) plaintextPII(value []byte) ([]string, error) {
	id, ok := schemaID(value)
	if !ok {
		return nil, errNotFramed
	}
	ce := r.codec(id)
	if ce.err != nil || len(ce.pii) == 0 {
		return nil, ce.err
	}
	native, _, err := ce.codec.NativeFromBinary(value[5:])
	if err != nil {
		return nil, err
	}
	m, _ := native.(map[string]any)
	var bad []string
	for _, f := range ce.pii {
		switch v := m[f.Name].(type) {
		case string:
			if v != "" && !pii.IsEnvelope(v) {
				bad = append(bad, f.Name)
			}
		case []byte:
			if len(v) > 0 && !pii.IsEnvelopeBytes(v) {
				bad = append(bad, f.Name)
			}
		}
	}
	return bad, nil
}

// codec returns the codec of a schema ID, fetching the schema once.
func (r *registry) codec(id int) codecEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.codecs[id]; ok {
		return e
	}
	e := r.buildCodec(id)
	var regErr *registryError
	if e.err == nil || !errors.As(e.err, &regErr) || regErr.permanent {
		r.codecs[id] = e // cache results that will not change
	}
	return e
}

// registryError is a failed registry call.
type registryError struct {
	err       error
	permanent bool // the registry answered: the schema does not exist
}

func (e *registryError) Error() string { return e.err.Error() }
func (e *registryError) Unwrap() error { return e.err }

func (r *registry) callErr(what string, err error) error {
	var se srclient.Error
	if errors.As(err, &se) && se.Code/100 == 404 {
		return &registryError{err: fmt.Errorf("%s: not found in the Schema Registry at %s: %w", what, r.url, err), permanent: true}
	}
	return &registryError{err: fmt.Errorf("%s: Schema Registry at %s: %w (check --schema-registry / KAFKAES_SCHEMA_REGISTRY)", what, r.url, err)}
}

func (r *registry) buildCodec(id int) codecEntry {
	fail := func(err error) codecEntry { return codecEntry{err: err} }
	s, err := r.client.GetSchema(id)
	if err != nil {
		return fail(r.callErr(fmt.Sprintf("schema ID %d", id), err))
	}
	if t := s.SchemaType(); t != nil && *t != srclient.Avro {
		return fail(fmt.Errorf("schema ID %d is a %s schema, not Avro", id, *t))
	}
	text := s.Schema()
	if refs := s.References(); len(refs) > 0 {
		text, err = r.inline(text, refs)
		if err != nil {
			return fail(fmt.Errorf("schema ID %d: %w", id, err))
		}
	}
	c, err := goavro.NewCodec(text)
	if err != nil {
		return fail(fmt.Errorf("schema ID %d does not parse as Avro: %w", id, err))
	}
	parsed, _ := avro.ParseSchema(text) // only for field order and pii fields; nil is fine
	ce := codecEntry{codec: c, schema: parsed}
	if parsed != nil && parsed.Kind == avro.Record {
		for _, f := range parsed.Fields {
			if f.PII != nil {
				ce.pii = append(ce.pii, f)
			}
		}
	}
	return ce
}

// inline returns schema text with every named type it references from
// another registry schema defined in place at its first use, so that
// goavro, which knows nothing of references, can parse it.
func (r *registry) inline(text string, refs []srclient.Reference) (string, error) {
	defs := map[string]any{}
	if err := r.loadRefs(refs, defs, 0); err != nil {
		return "", err
	}
	var root any
	if err := json.Unmarshal([]byte(text), &root); err != nil {
		return "", fmt.Errorf("schema is not JSON: %w", err)
	}
	in := &inliner{defs: defs, defined: map[string]bool{}}
	out, err := json.Marshal(in.walk(root, ""))
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// loadRefs fetches the referenced schemas, transitively, into defs by the
// full name they define.
func (r *registry) loadRefs(refs []srclient.Reference, defs map[string]any, depth int) error {
	if depth > 32 {
		return errors.New("schema references nest more than 32 levels deep")
	}
	for _, ref := range refs {
		if _, ok := defs[ref.Name]; ok {
			continue
		}
		s, err := r.client.GetSchemaByVersion(ref.Subject, ref.Version)
		if err != nil {
			return r.callErr(fmt.Sprintf("referenced schema %s (subject %q version %d)", ref.Name, ref.Subject, ref.Version), err)
		}
		var v any
		if err := json.Unmarshal([]byte(s.Schema()), &v); err != nil {
			return fmt.Errorf("referenced schema %s is not JSON: %w", ref.Name, err)
		}
		defs[ref.Name] = v
		if err := r.loadRefs(s.References(), defs, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// inliner replaces references to named types of other schemas by their
// definitions.
type inliner struct {
	defs    map[string]any
	defined map[string]bool
}

var avroPrimitives = map[string]bool{"null": true, "boolean": true, "int": true, "long": true, "float": true, "double": true, "bytes": true, "string": true}

func fullName(name, namespace string) string {
	if strings.Contains(name, ".") || namespace == "" {
		return name
	}
	return namespace + "." + name
}

func (in *inliner) walk(s any, ns string) any {
	switch v := s.(type) {
	case string:
		if avroPrimitives[v] {
			return v
		}
		full := fullName(v, ns)
		for _, n := range []string{full, v} {
			if in.defined[n] {
				return v
			}
			if def, ok := in.defs[n]; ok {
				in.defined[n] = true
				return in.walk(def, "")
			}
		}
		return v
	case []any:
		for i := range v {
			v[i] = in.walk(v[i], ns)
		}
		return v
	case map[string]any:
		switch t, _ := v["type"].(string); t {
		case "record", "error", "enum", "fixed":
			name, _ := v["name"].(string)
			space, _ := v["namespace"].(string)
			if space == "" {
				space = ns
			}
			full := fullName(name, space)
			in.defined[full] = true
			inner := ""
			if i := strings.LastIndexByte(full, '.'); i >= 0 {
				inner = full[:i]
			}
			if fields, ok := v["fields"].([]any); ok {
				for _, f := range fields {
					if fm, ok := f.(map[string]any); ok {
						fm["type"] = in.walk(fm["type"], inner)
					}
				}
			}
		case "array":
			v["items"] = in.walk(v["items"], ns)
		case "map":
			v["values"] = in.walk(v["values"], ns)
		default:
			v["type"] = in.walk(v["type"], ns)
		}
		return v
	}
	return s
}
