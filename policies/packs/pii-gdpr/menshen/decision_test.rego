package menshen_test

import rego.v1

import data.menshen

base := {
	"version": 1,
	"attributes": {"request": {"http": {"method": "POST", "path": "/v1/chat/completions", "host": "gw", "headers": {}, "size": 100}}},
	"llm": {
		"api": "openai.chat", "path": "/v1/chat/completions", "model": "m", "route": "default",
		"tenant": "shop-eu", "user": "", "message_counts": {"user": 1}, "message_bytes": {"user": 100},
		"has_untrusted_content": false,
	},
	"findings": [],
	"risk": {"score": 0, "categories": {}, "contributions": []},
	"context": {"time": "2025-06-01T10:00:00Z", "stream": false, "direction": "request"},
	"subject": {"id": "", "consecutive_violations": 0, "violations_24h": 0, "suspended": false},
}

pii(types, score) := {
	"detector": "pii", "category": "OWASP-LLM-2025:LLM02", "score": score,
	"count": count(types), "entity_types": types, "in_untrusted": false,
}

test_no_personal_data_is_allowed if {
	d := menshen.decision with input as base
	d.action == "allow"
	not d.log
}

test_personal_data_is_pseudonymised_or_masked if {
	d := menshen.decision with input as object.union(base, {"findings": [pii(["PERSON", "EMAIL", "IP_ADDRESS", "US_SSN"], 0.9)]})
	d.action == "redact"
	d.redact == {"PERSON": "pseudonym", "EMAIL": "pseudonym", "IP_ADDRESS": "hash", "US_SSN": "mask"}
	d.log == "minimal"
}

test_unknown_entity_types_are_masked if {
	d := menshen.decision with input as object.union(base, {"findings": [pii(["LOYALTY_CARD"], 0.9)]})
	d.redact == {"LOYALTY_CARD": "mask"}
}

test_low_confidence_entities_are_ignored if {
	d := menshen.decision with input as object.union(base, {"findings": [pii(["PERSON"], 0.3)]})
	d.action == "allow"
}

test_special_category_without_basis_is_refused if {
	d := menshen.decision with input as object.union(base, {"findings": [pii(["HEALTH", "EMAIL"], 0.9)]})
	d.action == "block"
	d.reasons == ["gdpr_special_category"]
	d.status == 422
	d.log == "minimal"
}

test_special_category_with_basis_is_masked if {
	clinic := object.union(base, {"llm": {"tenant": "clinic-eu"}, "findings": [pii(["HEALTH", "PERSON"], 0.9)]})
	d := menshen.decision with input as clinic
	d.action == "redact"
	d.redact == {"HEALTH": "mask", "PERSON": "pseudonym"}
}

test_responses_are_redacted_too if {
	resp := object.union(base, {"context": {"direction": "response"}, "findings": [pii(["PHONE_NUMBER"], 0.8)]})
	d := menshen.decision with input as resp
	d.redact == {"PHONE_NUMBER": "pseudonym"}
}
