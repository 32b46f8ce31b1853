package menshen_test

import rego.v1

import data.menshen

base := {
	"version": 1,
	"attributes": {"request": {"http": {"method": "POST", "path": "/v1/chat/completions", "host": "gw", "headers": {}, "size": 400}}},
	"llm": {
		"api": "openai.chat", "path": "/v1/chat/completions", "model": "auto", "route": "default",
		"tenant": "t", "user": "u1", "message_counts": {"system": 1, "user": 1}, "message_bytes": {"system": 100, "user": 300},
		"has_untrusted_content": false,
	},
	"findings": [],
	"risk": {"score": 0, "categories": {}, "contributions": []},
	"context": {"time": "2025-06-01T10:00:00Z", "stream": false, "direction": "request"},
	"subject": {"id": "t/u1", "consecutive_violations": 0, "violations_24h": 0, "suspended": false},
}

finding(cat, score, types) := {
	"detector": "d", "category": cat, "score": score,
	"count": 1, "entity_types": types, "in_untrusted": false,
}

with_findings(fs) := object.union(base, {"findings": fs})

response(fs) := object.union(base, {"findings": fs, "context": {"direction": "response"}})

test_simple_request_goes_to_the_small_model if {
	d := menshen.decision with input as base
	d.action == "route"
	d.route == "local-small"
}

test_long_request_goes_to_the_large_model if {
	d := menshen.decision with input as object.union(base, {"llm": {"message_bytes": {"user": 50000}}})
	d.route == "cloud-large"
}

test_many_turns_go_to_the_large_model if {
	d := menshen.decision with input as object.union(base, {"llm": {"message_counts": {"user": 5, "assistant": 4}}})
	d.route == "cloud-large"
}

test_tool_output_goes_to_the_large_model if {
	d := menshen.decision with input as object.union(base, {"llm": {"has_untrusted_content": true}})
	d.route == "cloud-large"
}

test_requests_with_findings_go_to_the_large_model if {
	d := menshen.decision with input as with_findings([finding("OWASP-LLM-2025:LLM02", 0.5, ["EMAIL"])])
	d.route == "cloud-large"
}

test_explicit_model_is_not_rerouted if {
	d := menshen.decision with input as object.union(base, {"llm": {"model": "gpt-4o"}})
	d.action == "allow"
}

test_injection_is_blocked_before_routing if {
	d := menshen.decision with input as with_findings([finding("OWASP-LLM-2025:LLM01", 0.9, [])])
	d.action == "block"
}
