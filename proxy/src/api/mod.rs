//! Wire formats: OpenAI and Anthropic request/response bodies ⇄ [`menshen_classifiers::Conversation`].
