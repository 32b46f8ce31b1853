//! The wire-format-free conversation model that every guard reads.
//!
//! The proxy decodes OpenAI chat/completions/responses and Anthropic messages
//! bodies into a [`Conversation`]; guards never see JSON. Content that arrives
//! from outside the user's own hand (tool results, retrieved documents) is
//! marked [`Trust::Untrusted`], because indirect prompt injection arrives
//! through it.

use serde::{Deserialize, Serialize};

/// Who authored a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Operator instructions (OpenAI `system`, Anthropic top-level `system`).
    System,
    /// OpenAI `developer` messages (treated like system).
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// A tool's output fed back to the model (OpenAI `tool` role).
    Tool,
}

impl Role {
    /// Stable lowercase name, as used in policy input and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// Whether a piece of content came from a party the operator trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    /// Written by the operator, the user or the model.
    Trusted,
    /// Tool results, retrieved documents, fetched web pages: indirect injection arrives here.
    Untrusted,
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Plain text written by the message's author.
    Text {
        /// The text.
        text: String,
    },
    /// A model's reasoning (Anthropic `thinking`, `reasoning_content`,
    /// Responses reasoning summaries): written by the model like its
    /// answer, and scanned like it, but not the answer itself; a rule about
    /// what happens when an answer is *rendered* need not apply to it.
    Reasoning {
        /// The text.
        text: String,
    },
    /// A model's request to call a tool.
    ToolCall {
        /// Call id, when the API has one.
        id: Option<String>,
        /// Tool name.
        name: String,
        /// Arguments as the raw JSON text the model produced.
        arguments: String,
    },
    /// The output of a tool, fed back to the model. Always untrusted.
    ToolResult {
        /// The call this answers, when the API says.
        tool_call_id: Option<String>,
        /// The result's text content.
        text: String,
    },
    /// A retrieved document or other external text placed in the prompt. Always untrusted.
    Document {
        /// The document text.
        text: String,
    },
    /// An image or other binary input, kept opaque.
    Image {
        /// Media type when known.
        media_type: Option<String>,
    },
}

/// A message: a role and its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Content, in order.
    pub parts: Vec<Part>,
}

impl Message {
    /// A message holding one text part.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            parts: vec![Part::Text { text: text.into() }],
        }
    }
}

/// A tool the client declares to the model. Its description is prompt text too
/// (tool poisoning), so it is scanned, as untrusted content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// Description shown to the model.
    pub description: String,
}

/// A whole conversation as sent to (or produced by) a model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Messages in order; a top-level system prompt is message 0 with [`Role::System`].
    pub messages: Vec<Message>,
    /// Declared tools.
    pub tools: Vec<ToolSpec>,
}

/// Where a segment sits in its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Location {
    /// Part `part` of message `message`.
    Part {
        /// Message index.
        message: usize,
        /// Part index within the message.
        part: usize,
    },
    /// The description of declared tool number `tool`.
    ToolDescription {
        /// Tool index.
        tool: usize,
    },
}

/// What kind of content a segment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// Message text.
    Text,
    /// A model's reasoning text ([`Part::Reasoning`]).
    Reasoning,
    /// JSON arguments of a tool call.
    ToolArguments,
    /// Output of a tool.
    ToolResult,
    /// A retrieved document.
    Document,
    /// A declared tool's description.
    ToolDescription,
}

/// One scannable piece of text with its context. Detectors scan segments;
/// findings' spans are byte offsets into [`Segment::text`].
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Where it sits.
    pub location: Location,
    /// The author of the enclosing message (`Tool` for tool descriptions).
    pub role: Role,
    /// Trust of this content.
    pub trust: Trust,
    /// What it is.
    pub kind: SegmentKind,
    /// The text itself.
    pub text: &'a str,
    /// A markdown code fence that is open where `text` starts: a stream
    /// window that begins inside a fenced block of the answer (see
    /// [`crate::markdown`]). `None` for whole texts.
    pub fence: Option<crate::markdown::Fence>,
    /// Labels of reference images (`![alt][label]`) in the part of a
    /// streamed answer before `text`, so that a definition far below its
    /// image is still read as one ([`crate::images`]). `None` for whole
    /// texts.
    pub image_labels: Option<&'a std::collections::BTreeSet<String>>,
}

impl<'a> Segment<'a> {
    /// A free-standing user text segment (for `menshen scan` on a bare prompt and for tests).
    pub fn user_text(text: &'a str) -> Self {
        Segment {
            location: Location::Part {
                message: 0,
                part: 0,
            },
            role: Role::User,
            trust: Trust::Trusted,
            kind: SegmentKind::Text,
            text,
            fence: None,
            image_labels: None,
        }
    }
}

impl Conversation {
    /// A conversation from messages, without tools.
    pub fn from_messages(messages: Vec<Message>) -> Self {
        Conversation {
            messages,
            tools: Vec::new(),
        }
    }

    /// Every scannable text segment, in order: all messages (not just the last:
    /// attacks are split across turns and hidden in old tool results), then tool
    /// descriptions. Images yield nothing.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_>> + '_ {
        let parts = self.messages.iter().enumerate().flat_map(|(mi, m)| {
            m.parts.iter().enumerate().filter_map(move |(pi, p)| {
                let location = Location::Part {
                    message: mi,
                    part: pi,
                };
                let untrusted_role = m.role == Role::Tool;
                let (kind, text, untrusted) = match p {
                    Part::Text { text } => (SegmentKind::Text, text.as_str(), untrusted_role),
                    Part::Reasoning { text } => {
                        (SegmentKind::Reasoning, text.as_str(), untrusted_role)
                    }
                    Part::ToolCall { arguments, .. } => (
                        SegmentKind::ToolArguments,
                        arguments.as_str(),
                        untrusted_role,
                    ),
                    Part::ToolResult { text, .. } => (SegmentKind::ToolResult, text.as_str(), true),
                    Part::Document { text } => (SegmentKind::Document, text.as_str(), true),
                    Part::Image { .. } => return None,
                };
                Some(Segment {
                    location,
                    role: m.role,
                    trust: if untrusted {
                        Trust::Untrusted
                    } else {
                        Trust::Trusted
                    },
                    kind,
                    text,
                    fence: None,
                    image_labels: None,
                })
            })
        });
        let tools = self.tools.iter().enumerate().map(|(ti, t)| Segment {
            location: Location::ToolDescription { tool: ti },
            role: Role::Tool,
            trust: Trust::Untrusted,
            kind: SegmentKind::ToolDescription,
            text: t.description.as_str(),
            fence: None,
            image_labels: None,
        });
        parts.chain(tools)
    }

    /// Whether any untrusted content (tool results, documents, tool descriptions) is present.
    pub fn has_untrusted(&self) -> bool {
        self.segments().any(|s| s.trust == Trust::Untrusted)
    }

    /// The text of the segment at `location`, if any.
    pub fn text_at(&self, location: Location) -> Option<&str> {
        self.segments()
            .find(|s| s.location == location)
            .map(|s| s.text)
    }

    /// Mutable access to the text at `location` (for applying redactions).
    pub fn text_at_mut(&mut self, location: Location) -> Option<&mut String> {
        match location {
            Location::Part { message, part } => {
                match self.messages.get_mut(message)?.parts.get_mut(part)? {
                    Part::Text { text }
                    | Part::Reasoning { text }
                    | Part::ToolResult { text, .. }
                    | Part::Document { text } => Some(text),
                    Part::ToolCall { arguments, .. } => Some(arguments),
                    Part::Image { .. } => None,
                }
            }
            Location::ToolDescription { tool } => {
                self.tools.get_mut(tool).map(|t| &mut t.description)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_results_and_tool_role_are_untrusted() {
        let conv = Conversation {
            messages: vec![
                Message::text(Role::System, "be nice"),
                Message {
                    role: Role::Assistant,
                    parts: vec![Part::ToolCall {
                        id: Some("c1".into()),
                        name: "search".into(),
                        arguments: "{\"q\":\"x\"}".into(),
                    }],
                },
                Message::text(Role::Tool, "result text"),
                Message {
                    role: Role::User,
                    parts: vec![
                        Part::ToolResult {
                            tool_call_id: None,
                            text: "anthropic style".into(),
                        },
                        Part::Image { media_type: None },
                    ],
                },
            ],
            tools: vec![ToolSpec {
                name: "search".into(),
                description: "searches".into(),
            }],
        };
        let segs: Vec<_> = conv.segments().collect();
        assert_eq!(segs.len(), 5);
        let trusts: Vec<_> = segs.iter().map(|s| s.trust).collect();
        assert_eq!(
            trusts,
            vec![
                Trust::Trusted,
                Trust::Trusted,
                Trust::Untrusted,
                Trust::Untrusted,
                Trust::Untrusted
            ]
        );
        assert!(conv.has_untrusted());
        assert_eq!(
            conv.text_at(Location::Part {
                message: 2,
                part: 0
            }),
            Some("result text")
        );
    }
}
