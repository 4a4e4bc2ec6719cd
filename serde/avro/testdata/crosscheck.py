#!/usr/bin/env python3
"""Cross-check of kafkaes' Avro serde with fastavro, an independent Avro
implementation. Run by crosscheck_test.go:

    python3 crosscheck.py IN.json OUT.json

IN.json holds vectors written by the Go serde:
  [{"name", "writer_schema", "reader_schema", "payload_hex"}]
payload_hex is Confluent-framed (0x00, 4-byte big-endian schema ID, body).
For each vector this script checks the frame, decodes the body with
fastavro (resolving writer -> reader schema per the Avro spec), prints the
value in a normalised JSON form, and re-encodes it with the reader schema.
It also encodes "python_origin" records built here, for the Go side to
decode. Needs: pip install fastavro==1.13.1
"""
import datetime
import decimal
import io
import json
import sys
import uuid

import fastavro


def norm(v):
    """Normalise fastavro values to JSON: datetimes as epoch microseconds,
    decimals and UUIDs as strings, bytes as hex."""
    if isinstance(v, dict):
        return {k: norm(x) for k, x in sorted(v.items())}
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    if isinstance(v, datetime.datetime):
        d = v - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def main():
    vectors = json.load(open(sys.argv[1]))
    out = {"decoded": [], "python_origin": []}
    for vec in vectors:
        data = bytes.fromhex(vec["payload_hex"])
        if data[0] != 0:
            raise SystemExit("%s: magic byte is %d, want 0" % (vec["name"], data[0]))
        schema_id = int.from_bytes(data[1:5], "big")
        writer = fastavro.parse_schema(json.loads(vec["writer_schema"]))
        reader = fastavro.parse_schema(json.loads(vec["reader_schema"]))
        buf = io.BytesIO(data[5:])
        value = fastavro.schemaless_reader(buf, writer, reader)
        if buf.read():
            raise SystemExit("%s: trailing bytes after the value" % vec["name"])
        enc = io.BytesIO()
        fastavro.schemaless_writer(enc, reader, value)
        out["decoded"].append({"name": vec["name"], "schema_id": schema_id,
                               "value": norm(value), "reencoded_hex": enc.getvalue().hex()})

    # Records built in Python for the Go side to decode.
    accts = [v for v in vectors if v["name"] == "account"]
    if not accts:
        json.dump(out, open(sys.argv[2], "w"), indent=1)
        return
    acct = accts[0]
    schema = fastavro.parse_schema(json.loads(acct["reader_schema"]))
    rec = {
        "id": uuid.UUID("00112233-4455-6677-8899-aabbccddeeff"),
        "owner": "Pÿthon ✓",
        "balance": decimal.Decimal("-9876543.21"),
        "cents": -(2 ** 53),
        "small": -2 ** 31,
        "currency": "GBP",
        "opened_at": datetime.datetime(2020, 2, 29, 23, 59, 59, 999000, tzinfo=datetime.timezone.utc),
        "micros": datetime.datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=datetime.timezone.utc),
        "nick": None,
        "tags": ["x"] * 3,
        "limits": {"a": 1, "b": -1},
        "address": {"street": "", "city": "Zürich"},
        "previous": {"street": "Old", "city": "Bern"},
        "raw": b"\x00\xff",
        "score": -0.125,
        "ratio": 1.5,
        "active": False,
        "meta": {"k": "v"},
    }
    enc = io.BytesIO()
    fastavro.schemaless_writer(enc, schema, rec)
    out["python_origin"].append({"name": "account", "body_hex": enc.getvalue().hex()})
    json.dump(out, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
