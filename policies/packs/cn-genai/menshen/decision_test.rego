package menshen_test

import rego.v1

import data.menshen

base := {
	"version": 1,
	"attributes": {"request": {"http": {"method": "POST", "path": "/v1/chat/completions", "host": "gw", "headers": {}, "size": 100}}},
	"llm": {
		"api": "openai.chat", "path": "/v1/chat/completions", "model": "qwen", "route": "default",
		"tenant": "t", "user": "u1", "message_counts": {"user": 1}, "message_bytes": {"user": 100},
		"has_untrusted_content": false,
	},
	"findings": [],
	"risk": {"score": 0, "categories": {}, "contributions": []},
	"context": {"time": "2025-06-01T10:00:00Z", "stream": false, "direction": "request"},
	"subject": {"id": "t/u1", "consecutive_violations": 0, "violations_24h": 0, "suspended": false},
}

finding(cat, score) := {
	"detector": "phrases.gbt45654", "category": cat, "score": score,
	"count": 1, "entity_types": [], "in_untrusted": false,
}

with_findings(fs) := object.union(base, {"findings": fs})

response(fs) := object.union(base, {"findings": fs, "context": {"direction": "response"}})

test_appendix_a_has_5_classes_and_31_risks if {
	count(data.menshen.config.cn_genai.classes) == 5
	count(data.menshen.config.cn_genai.risks) == 31
	sum([c.risks | some c in data.menshen.config.cn_genai.classes]) == 31
}

test_every_risk_belongs_to_a_listed_class if {
	every id, r in data.menshen.config.cn_genai.risks {
		data.menshen.config.cn_genai.classes[r.class]
		startswith(id, concat("", ["GBT45654:", r.class, "."]))
	}
}

test_clean_request_is_allowed if {
	d := menshen.decision with input as base
	d.action == "allow"
}

test_terrorism_request_is_refused_with_standard_message if {
	d := menshen.decision with input as with_findings([finding("GBT45654:A.1.4", 0.9)])
	d.action == "block"
	d.reasons == ["gbt45654_violation", "GBT45654:A.1.4"]
	d.message == data.menshen.config.cn_genai.refusal_message
	d.violation == true
}

test_every_blocking_class_refuses if {
	every cat in ["GBT45654:A.1.1", "GBT45654:A.2.5", "GBT45654:A.3.3", "GBT45654:A.4.7"] {
		d := menshen.decision with input as with_findings([finding(cat, 0.8)])
		d.action == "block"
	}
}

test_low_confidence_is_not_refused if {
	d := menshen.decision with input as with_findings([finding("GBT45654:A.2.1", 0.3)])
	d.action == "allow"
}

test_unknown_categories_are_ignored if {
	d := menshen.decision with input as with_findings([finding("GBT45654:A.9.9", 0.99)])
	d.action == "allow"
}

test_third_violation_in_a_row_warns_of_suspension if {
	third := object.union(with_findings([finding("GBT45654:A.1.6", 0.9)]), {"subject": {"consecutive_violations": 2}})
	d := menshen.decision with input as third
	d.violation == true
	contains(d.message, data.menshen.config.cn_genai.suspension_warning)
	first := menshen.decision with input as with_findings([finding("GBT45654:A.1.6", 0.9)])
	not contains(first.message, data.menshen.config.cn_genai.suspension_warning)
}

test_fifth_violation_in_a_day_warns_of_suspension if {
	fifth := object.union(with_findings([finding("GBT45654:A.1.6", 0.9)]), {"subject": {"violations_24h": 4}})
	d := menshen.decision with input as fifth
	contains(d.message, data.menshen.config.cn_genai.suspension_warning)
}

test_suspended_subject_is_refused_even_when_clean if {
	d := menshen.decision with input as object.union(base, {"subject": {"suspended": true}})
	d.action == "block"
	d.reasons == ["subject_suspended"]
	d.message == data.menshen.config.cn_genai.suspension_message
	not d.violation
}

test_violating_output_is_blocked_but_not_counted if {
	d := menshen.decision with input as response([finding("GBT45654:A.2.2", 0.9)])
	d.action == "block"
	d.message == data.menshen.config.cn_genai.output_refusal_message
	not d.violation
}

test_inaccurate_output_gets_a_disclaimer if {
	d := menshen.decision with input as response([finding("GBT45654:A.5.1", 0.9)])
	d.action == "allow"
	d.disclaimer == data.menshen.config.cn_genai.accuracy_disclaimer
}

test_every_response_is_labelled_as_ai_generated if {
	d := menshen.decision with input as response([])
	d.action == "allow"
	d.disclaimer == data.menshen.config.cn_genai.ai_label
}

test_personal_information_is_redacted if {
	pi := {"detector": "pii", "category": "OWASP-LLM-2025:LLM02", "score": 0.9, "count": 1, "entity_types": ["CN_RESIDENT_ID"], "in_untrusted": false}
	d := menshen.decision with input as with_findings([pi])
	d.action == "redact"
	d.redact == {"CN_RESIDENT_ID": "mask"}
}
