"""The e2e tests' port of the Collector's ``load_balancing`` hash ring (tests/e2e/fleet.py)
gives the worker the Go code gives: vectors computed with ``consistent_hashing.go`` of
contrib v0.161.0 (``newHashRing([...]).endpointFor(key)``)."""

from __future__ import annotations

import pytest

from tests.e2e.fleet import trace_id_for, worker_for_key, worker_for_session, worker_for_trace

ENDPOINTS = ["127.0.0.1:40001", "127.0.0.1:40002"]


@pytest.mark.parametrize(
    ("trace_id", "endpoint"),
    [
        ("00000000000000000000000000000001", "127.0.0.1:40002"),
        ("ffffffffffffffffffffffffffffffff", "127.0.0.1:40002"),
        ("0123456789abcdef0123456789abcdef", "127.0.0.1:40001"),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "127.0.0.1:40001"),
        ("5b2c1a0e5b2c1a0e5b2c1a0e5b2c1a0e", "127.0.0.1:40001"),
    ],
)
def test_trace_ids_hash_to_the_workers_the_collector_picks(trace_id: str, endpoint: str) -> None:
    assert worker_for_trace(ENDPOINTS, trace_id) == endpoint
    assert worker_for_trace(list(reversed(ENDPOINTS)), trace_id) == endpoint  # order-free


def test_session_keys_hash_like_the_attributes_routing_key() -> None:
    assert worker_for_key(ENDPOINTS, b"agent_replay.session.id=abc|") == "127.0.0.1:40001"
    assert worker_for_session(ENDPOINTS, "abc") == "127.0.0.1:40001"


def test_trace_id_for_finds_an_id_for_each_worker_deterministically() -> None:
    for endpoint in ENDPOINTS:
        tid = trace_id_for(ENDPOINTS, endpoint, "seed")
        assert worker_for_trace(ENDPOINTS, tid) == endpoint
        assert trace_id_for(ENDPOINTS, endpoint, "seed") == tid
