package pii_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/pii"
)

type PatientAdmitted struct {
	pii.Redactable
	PatientID string
	Name      string `pii:"PatientID"`
	Born      string `pii:"PatientID,label=dob"`
	Scan      []byte `pii:"PatientID"`
	Ward      string
}

type Plain struct {
	ID   string
	Note string
}

func newJSON(t testing.TB, keys pii.KeyStore) *serde.JSON {
	t.Helper()
	reg := serde.NewRegistry()
	serde.MustRegister[PatientAdmitted](reg, "care.PatientAdmitted")
	serde.MustRegister[Plain](reg, "care.Plain")
	j := serde.NewJSON(reg)
	j.Encryptor = pii.NewEncryptor(keys)
	return j
}

func admitted(id string) PatientAdmitted {
	return PatientAdmitted{PatientID: id, Name: "Ada Lovelace " + id, Born: "1815-12-10", Scan: []byte("scan of " + id), Ward: "B"}
}

func TestJSONRoundTrip(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	j := newJSON(t, keys)
	in := admitted("p-1")
	name, data, err := j.Marshal(ctx, in)
	require.NoError(t, err)
	require.Equal(t, "care.PatientAdmitted", name)
	for _, plain := range []string{"Ada Lovelace", "1815-12-10", "scan of"} {
		require.NotContains(t, string(data), plain)
	}
	require.Contains(t, string(data), `"PatientID":"p-1"`)
	require.Contains(t, string(data), `"Name":"pii:`)
	require.Equal(t, "Ada Lovelace p-1", in.Name, "Marshal must not change the caller's value")

	out, err := j.Unmarshal(ctx, name, data)
	require.NoError(t, err)
	require.Equal(t, in, out)
	require.Nil(t, pii.Redacted(out))
	require.False(t, pii.IsRedacted(out))

	// Two encryptions of the same value differ (random nonces).
	_, data2, err := j.Marshal(ctx, &in)
	require.NoError(t, err)
	require.NotEqual(t, data, data2)

	// Plain types pass untouched.
	_, pd, err := j.Marshal(ctx, Plain{ID: "x", Note: "n"})
	require.NoError(t, err)
	require.JSONEq(t, `{"ID":"x","Note":"n"}`, string(pd))
}

func TestErasureRedacts(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	j := newJSON(t, keys)
	_, d1, err := j.Marshal(ctx, admitted("p-1"))
	require.NoError(t, err)
	_, d2, err := j.Marshal(ctx, admitted("p-2"))
	require.NoError(t, err)

	require.NoError(t, keys.Erase(ctx, "p-1"))
	require.NoError(t, keys.Erase(ctx, "never-existed"))
	v, err := j.Unmarshal(ctx, "care.PatientAdmitted", d1)
	require.NoError(t, err, "erasure never fails a decode")
	got := v.(PatientAdmitted)
	require.Equal(t, "p-1", got.PatientID)
	require.Equal(t, "B", got.Ward)
	require.Empty(t, got.Name)
	require.Empty(t, got.Born)
	require.Nil(t, got.Scan)
	require.Equal(t, []string{"Name", "Born", "Scan"}, pii.Redacted(got))
	require.True(t, pii.IsRedacted(got))
	require.True(t, pii.IsRedacted(&got, "Born"))
	require.False(t, pii.IsRedacted(got, "Ward"))

	v, err = j.Unmarshal(ctx, "care.PatientAdmitted", d2)
	require.NoError(t, err)
	require.Equal(t, admitted("p-2"), v, "other subjects are intact")

	// The subject comes back: a new key for new events; the old events
	// stay redacted (their key ID is gone), they do not fail.
	_, d3, err := j.Marshal(ctx, admitted("p-1"))
	require.NoError(t, err)
	v, err = j.Unmarshal(ctx, "care.PatientAdmitted", d3)
	require.NoError(t, err)
	require.Equal(t, admitted("p-1"), v)
	v, err = j.Unmarshal(ctx, "care.PatientAdmitted", d1)
	require.NoError(t, err)
	require.Equal(t, []string{"Name", "Born", "Scan"}, pii.Redacted(v))
}

// jsonField replaces the JSON string value of field in data.
func jsonField(t *testing.T, data []byte, field string) string {
	t.Helper()
	i := bytes.Index(data, []byte(`"`+field+`":"`))
	require.GreaterOrEqual(t, i, 0)
	rest := data[i+len(field)+4:]
	return string(rest[:bytes.IndexByte(rest, '"')])
}

func TestTamperingDetected(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	j := newJSON(t, keys)
	_, d1, err := j.Marshal(ctx, admitted("p-1"))
	require.NoError(t, err)
	_, d2, err := j.Marshal(ctx, admitted("p-2"))
	require.NoError(t, err)
	name1, born1 := jsonField(t, d1, "Name"), jsonField(t, d1, "Born")
	name2 := jsonField(t, d2, "Name")

	flip := []byte(name1)
	flip[len(flip)-3] ^= 0x01
	if flip[len(flip)-3] == '-' || flip[len(flip)-3] == '_' { // keep it base64url
		flip[len(flip)-3] = 'A'
	}
	cases := map[string][]byte{
		"flipped ciphertext":  bytes.Replace(d1, []byte(name1), flip, 1),
		"field swapped":       bytes.Replace(d1, []byte(name1), []byte(born1), 1),
		"subject swapped":     bytes.Replace(d1, []byte(name1), []byte(name2), 1),
		"bad base64":          bytes.Replace(d1, []byte(name1), []byte("pii:!!!"), 1),
		"truncated envelope":  bytes.Replace(d1, []byte(name1), []byte(name1[:20]), 1),
		"unknown version":     bytes.Replace(d1, []byte(name1), []byte("pii:"+strings.Repeat("B", 60)), 1),
		"subject ID replaced": bytes.Replace(d1, []byte(`"PatientID":"p-1"`), []byte(`"PatientID":"p-2"`), 1),
	}
	for what, data := range cases {
		_, err := j.Unmarshal(ctx, "care.PatientAdmitted", data)
		if what == "subject ID replaced" || what == "subject swapped" {
			// A ciphertext under a key ID the subject does not have now
			// cannot be told from one under an erased key: it reads as
			// redacted, never as data.
			require.NoError(t, err, what)
			v, _ := j.Unmarshal(ctx, "care.PatientAdmitted", data)
			require.True(t, pii.IsRedacted(v, "Name"), what)
			continue
		}
		require.ErrorIs(t, err, pii.ErrDecrypt, what)
		require.ErrorIs(t, err, serde.ErrMalformed, what)
		var de *pii.DecryptError
		require.ErrorAs(t, err, &de, what)
		require.Equal(t, "p-1", de.Subject, what)
	}

	// The subject is bound into the ciphertext: even a key store that hands
	// p-1's key out for p-2 too does not let p-1's fields pass as p-2's.
	k1, err := keys.Get(ctx, "p-1", 0)
	require.NoError(t, err)
	keys.Put("p-2", k1)
	_, err = j.Unmarshal(ctx, "care.PatientAdmitted", bytes.Replace(d1, []byte(`"PatientID":"p-1"`), []byte(`"PatientID":"p-2"`), 1))
	require.ErrorIs(t, err, pii.ErrDecrypt)

	// A wrong key with the right ID is a decrypt error, not erasure.
	k, err := keys.Get(ctx, "p-1", 0)
	require.NoError(t, err)
	wrong := pii.NewKey()
	wrong.ID = k.ID
	keys.Put("p-1", wrong)
	_, err = newJSON(t, keys).Unmarshal(ctx, "care.PatientAdmitted", d1)
	require.ErrorIs(t, err, pii.ErrDecrypt)
}

type failingStore struct{ pii.KeyStore }

var errDown = errors.New("key store down")

func (failingStore) Get(context.Context, string, uint64) (pii.Key, error) { return pii.Key{}, errDown }

func TestKeyStoreOutageIsNotErasure(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	_, data, err := newJSON(t, keys).Marshal(ctx, admitted("p-1"))
	require.NoError(t, err)
	_, err = newJSON(t, failingStore{keys}).Unmarshal(ctx, "care.PatientAdmitted", data)
	require.ErrorIs(t, err, errDown)
	require.NotErrorIs(t, err, serde.ErrMalformed)
}

func TestEmptyAndLegacyValues(t *testing.T) {
	ctx := context.Background()
	j := newJSON(t, pii.NewMemory())
	in := PatientAdmitted{PatientID: "p-1", Ward: "A"}
	_, data, err := j.Marshal(ctx, in)
	require.NoError(t, err)
	require.JSONEq(t, `{"PatientID":"p-1","Name":"","Born":"","Scan":null,"Ward":"A"}`, string(data))
	v, err := j.Unmarshal(ctx, "care.PatientAdmitted", data)
	require.NoError(t, err)
	require.Equal(t, in, v)
	require.False(t, pii.IsRedacted(v))

	// Written before the fields were marked: plaintext is read as is
	// (`kafkaes verify` reports it).
	v, err = j.Unmarshal(ctx, "care.PatientAdmitted", []byte(`{"PatientID":"p-1","Name":"Old Name","Scan":"b2xk"}`))
	require.NoError(t, err)
	require.Equal(t, "Old Name", v.(PatientAdmitted).Name)
	require.Equal(t, []byte("old"), v.(PatientAdmitted).Scan)

	_, _, err = j.Marshal(ctx, PatientAdmitted{Name: "no subject"})
	require.ErrorContains(t, err, "subject field PatientID is empty")
}

func TestRefusedWithoutEncryptor(t *testing.T) {
	ctx := context.Background()
	reg := serde.NewRegistry()
	serde.MustRegister[PatientAdmitted](reg, "care.PatientAdmitted")
	j := serde.NewJSON(reg)
	_, _, err := j.Marshal(ctx, admitted("p-1"))
	require.ErrorContains(t, err, "no Encryptor")
	require.ErrorContains(t, j.CheckType(reflect.TypeFor[PatientAdmitted]()), "no Encryptor")
}

type (
	badTime struct {
		pii.Redactable
		ID  string
		Dob time.Time `pii:"ID"`
	}
	badInt struct {
		pii.Redactable
		ID  string
		Age int `pii:"ID"`
	}
	noSubject struct {
		pii.Redactable
		Name string `pii:"PatientID"`
	}
	intSubject struct {
		pii.Redactable
		ID   int
		Name string `pii:"ID"`
	}
	noRedactable struct {
		ID   string
		Name string `pii:"ID"`
	}
	nested struct {
		pii.Redactable
		ID   string
		Addr struct {
			Street string `pii:"ID"`
		}
	}
	nestedSlice struct {
		ID    string
		Notes []struct {
			Text string `pii:"ID"`
		}
	}
	taggedSubject struct {
		pii.Redactable
		ID   string `pii:"ID"`
		Name string `pii:"ID"`
	}
	dupLabel struct {
		pii.Redactable
		ID string
		A  string `pii:"ID,label=x"`
		B  string `pii:"ID,label=x"`
	}
	badOption struct {
		pii.Redactable
		ID string
		A  string `pii:"ID,secret"`
	}
	Inner struct {
		ID   string
		Name string `pii:"ID"`
	}
	embedded struct {
		pii.Redactable
		Inner
	}
	embeddedPtr struct {
		pii.Redactable
		*Inner
	}
)

func TestInspectRefusesWhatItCannotEncrypt(t *testing.T) {
	for _, c := range []struct {
		t    reflect.Type
		want string
	}{
		{reflect.TypeFor[badTime](), "only string and []byte"},
		{reflect.TypeFor[badInt](), "only string and []byte"},
		{reflect.TypeFor[noSubject](), "has no such field"},
		{reflect.TypeFor[intSubject](), "must be a string field"},
		{reflect.TypeFor[noRedactable](), "does not embed pii.Redactable"},
		{reflect.TypeFor[nested](), "inside a nested value"},
		{reflect.TypeFor[nestedSlice](), "inside a nested value"},
		{reflect.TypeFor[taggedSubject](), "tagged pii itself"},
		{reflect.TypeFor[dupLabel](), "same label"},
		{reflect.TypeFor[badOption](), "unknown pii tag option"},
		{reflect.TypeFor[embeddedPtr](), "embedded pointer"},
	} {
		_, err := pii.Inspect(c.t)
		require.ErrorContains(t, err, c.want, c.t.String())
	}
	p, err := pii.Inspect(reflect.TypeFor[Plain]())
	require.NoError(t, err)
	require.Nil(t, p)
	p, err = pii.Inspect(reflect.TypeFor[embedded]())
	require.NoError(t, err)
	require.Equal(t, []string{"Name"}, p.Fields())
}

func TestEmbeddedFields(t *testing.T) {
	ctx := context.Background()
	reg := serde.NewRegistry()
	serde.MustRegister[embedded](reg, "t.Embedded")
	j := serde.NewJSON(reg)
	j.Encryptor = pii.NewEncryptor(pii.NewMemory())
	in := embedded{Inner: Inner{ID: "s", Name: "secret name"}}
	_, data, err := j.Marshal(ctx, in)
	require.NoError(t, err)
	require.NotContains(t, string(data), "secret name")
	v, err := j.Unmarshal(ctx, "t.Embedded", data)
	require.NoError(t, err)
	require.Equal(t, in, v)
}

func TestCipherCacheEviction(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	reg := serde.NewRegistry()
	serde.MustRegister[PatientAdmitted](reg, "care.PatientAdmitted")
	j := serde.NewJSON(reg)
	j.Encryptor = pii.NewEncryptor(keys, pii.WithCipherCache(2))
	var all [][]byte
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		_, d, err := j.Marshal(ctx, admitted(id))
		require.NoError(t, err)
		all = append(all, d)
	}
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		v, err := j.Unmarshal(ctx, "care.PatientAdmitted", all[i])
		require.NoError(t, err)
		require.Equal(t, admitted(id), v)
	}
}

// FuzzDecrypt feeds arbitrary field values (as if read from the wire) to
// the decoder: it may fail, never panic, and never report erasure for a
// subject whose key exists unless the value names another key ID.
func FuzzDecrypt(f *testing.F) {
	ctx := context.Background()
	keys := pii.NewMemory()
	enc := pii.NewEncryptor(keys)
	p, err := pii.Inspect(reflect.TypeFor[PatientAdmitted]())
	if err != nil {
		f.Fatal(err)
	}
	good, err := enc.Encrypt(ctx, p, reflect.ValueOf(admitted("p-1")))
	if err != nil {
		f.Fatal(err)
	}
	g := good.Interface().(PatientAdmitted)
	f.Add(g.Name, g.Scan)
	f.Add("pii:", []byte{1})
	f.Add("pii:AQ", []byte{1, 2, 3})
	f.Add(g.Born[:30], g.Scan[:30])
	f.Fuzz(func(t *testing.T, s string, b []byte) {
		v := PatientAdmitted{PatientID: "p-1", Name: s, Born: s, Scan: b}
		errV := enc.Decrypt(ctx, p, reflect.ValueOf(&v))
		// DecryptFields (the Avro direct decoder's way) must agree.
		w := PatientAdmitted{PatientID: "p-1"}
		errW := enc.DecryptFields(ctx, p, reflect.ValueOf(&w), [][]byte{[]byte(s), []byte(s), b})
		if (errV == nil) != (errW == nil) || errV != nil && errV.Error() != errW.Error() {
			t.Fatalf("Decrypt: %v; DecryptFields: %v", errV, errW)
		}
		if len(v.Scan) == 0 {
			v.Scan = nil // an empty []byte read from JSON; Avro reads nil
		}
		if errV == nil && !reflect.DeepEqual(v, w) {
			t.Fatalf("Decrypt: %+v; DecryptFields: %+v", v, w)
		}
	})
}

func TestDecryptText(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	enc := pii.NewEncryptor(keys)
	p, err := pii.Inspect(reflect.TypeFor[PatientAdmitted]())
	require.NoError(t, err)
	sealed, err := enc.Encrypt(ctx, p, reflect.ValueOf(admitted("p-1")))
	require.NoError(t, err)
	v := sealed.Interface().(PatientAdmitted)
	got, red, err := enc.DecryptText(ctx, "p-1", "dob", v.Born)
	require.NoError(t, err)
	require.False(t, red)
	require.Equal(t, "1815-12-10", got)
	b, red, err := enc.DecryptBytes(ctx, "p-1", "Scan", v.Scan)
	require.NoError(t, err)
	require.False(t, red)
	require.Equal(t, "scan of p-1", string(b))
	_, _, err = enc.DecryptText(ctx, "p-1", "Name", v.Born)
	require.ErrorIs(t, err, pii.ErrDecrypt, "the label is bound")
	got, _, err = enc.DecryptText(ctx, "p-1", "Name", "plain")
	require.NoError(t, err)
	require.Equal(t, "plain", got)
	require.NoError(t, keys.Erase(ctx, "p-1"))
	got, red, err = enc.DecryptText(ctx, "p-1", "dob", v.Born)
	require.NoError(t, err)
	require.True(t, red)
	require.Empty(t, got)
}
