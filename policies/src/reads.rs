//! Which parts of the input document a bundle can read.
//!
//! A decision's input is converted into a `regorus::Value` on every
//! request, and the full document (HTTP facts, headers, per-role counts,
//! time, subject, findings) costs a fifth of a decision on the baseline
//! pack, which reads six of its paths. The bundle's serving modules are
//! scanned once at load for references to `input`, and only the subtrees
//! they name are converted.
//!
//! The scan is conservative, so a policy can never observe a difference:
//! Rego reaches the input document only through the `input` keyword, and
//! every occurrence of it as a root (not a field after a `.`) is read as a
//! reference `input.a.b...`, whose whole subtree is kept. A bracket
//! (`input.findings[i]`), a call argument (`object.get(input, ...)`), a bare
//! `import input`, `with input as ...` or anything else the scan does not
//! follow keeps the subtree reached so far, up to the whole document. A
//! module the lexer rejects also keeps the whole document (the compiler
//! would reject it anyway).

use std::collections::BTreeMap;

use regorus::unstable::{Lexer, Source, TokenKind};

/// The parts of the input document a bundle reads: everything below a node
/// marked [`Reads::All`], and of a [`Reads::Fields`] node only the named
/// members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reads {
    /// The whole subtree.
    All,
    /// Only these members (each with what is read below it).
    Fields(BTreeMap<String, Reads>),
}

/// Shared `All` node, for walks that left the projected part.
pub(crate) static ALL: Reads = Reads::All;

impl Reads {
    /// What the given Rego modules (`(file name, text)`) read of `input`.
    pub(crate) fn of_modules<'a>(modules: impl IntoIterator<Item = (&'a str, &'a str)>) -> Reads {
        let mut reads = Reads::Fields(BTreeMap::new());
        for (name, text) in modules {
            match paths_in(name, text) {
                Some(paths) => {
                    for p in paths {
                        reads.insert(&p);
                    }
                }
                None => return Reads::All,
            }
            if reads == Reads::All {
                break;
            }
        }
        reads
    }

    /// Marks the subtree at `path` read (an empty path: the whole document).
    fn insert(&mut self, path: &[String]) {
        let Some((last, parents)) = path.split_last() else {
            *self = Reads::All;
            return;
        };
        let mut node = self;
        for key in parents {
            let Reads::Fields(children) = node else {
                return;
            };
            node = children
                .entry(key.clone())
                .or_insert_with(|| Reads::Fields(BTreeMap::new()));
        }
        if let Reads::Fields(children) = node {
            children.insert(last.clone(), Reads::All);
        }
    }

    /// What is read below member `key`, or `None` when nothing is.
    pub(crate) fn member(&self, key: &str) -> Option<&Reads> {
        match self {
            Reads::All => Some(&ALL),
            Reads::Fields(children) => children.get(key),
        }
    }
}

/// The `input` references of one module, each as the member path it
/// names; `None` when the module does not lex.
fn paths_in(name: &str, text: &str) -> Option<Vec<Vec<String>>> {
    let source = Source::from_contents(name.to_owned(), text.to_owned()).ok()?;
    let mut lexer = Lexer::new(&source);
    let mut tokens = Vec::new();
    loop {
        let t = lexer.next_token().ok()?;
        if t.0 == TokenKind::Eof {
            break;
        }
        tokens.push((t.0, t.1.text().to_owned()));
    }
    let mut paths = Vec::new();
    let mut after_dot = false;
    for (i, (kind, text)) in tokens.iter().enumerate() {
        // `x.input` is a member named input, not the document.
        let root = *kind == TokenKind::Ident && text == "input" && !after_dot;
        after_dot = *kind == TokenKind::Symbol && text == ".";
        if !root {
            continue;
        }
        let mut path = Vec::new();
        let mut rest = tokens.get(i.saturating_add(1)..).unwrap_or_default();
        while let [(TokenKind::Symbol, dot), (TokenKind::Ident, field), tail @ ..] = rest {
            if dot != "." {
                break;
            }
            path.push(field.clone());
            rest = tail;
        }
        paths.push(path);
    }
    Some(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(text: &str) -> Reads {
        Reads::of_modules([("p.rego", text)])
    }

    fn fields(entries: &[(&str, Reads)]) -> Reads {
        Reads::Fields(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn dotted_references_keep_their_subtrees_only() {
        let r = reads(
            "package menshen\nimport rego.v1\n\
             deny if input.llm.model == \"x\"\n\
             deny if { some f in input.findings; f.score > 0.5 }\n\
             deny if input.attributes.request.http.size > 10\n",
        );
        assert_eq!(
            r,
            fields(&[
                (
                    "attributes",
                    fields(&[(
                        "request",
                        fields(&[("http", fields(&[("size", Reads::All)]))])
                    )])
                ),
                ("findings", Reads::All),
                ("llm", fields(&[("model", Reads::All)])),
            ])
        );
    }

    #[test]
    fn a_bracket_keeps_the_subtree_before_it() {
        let r = reads("package p\nx := input.llm.message_counts[\"user\"]\n");
        assert_eq!(
            r,
            fields(&[("llm", fields(&[("message_counts", Reads::All)]))])
        );
    }

    #[test]
    fn a_bare_input_keeps_everything() {
        for text in [
            "package p\nx := object.get(input, \"llm\", {})\n",
            "package p\nimport input\nx := input\n",
            "package p\nx := walk(input)\n",
            "package p\nx := input[\"llm\"]\n",
            "package p\ntest_a if allow with input as {}\n",
        ] {
            assert_eq!(reads(text), Reads::All, "{text}");
        }
    }

    #[test]
    fn an_import_alias_is_a_reference() {
        let r = reads("package p\nimport input.llm as l\nx := l.model\n");
        assert_eq!(r, fields(&[("llm", Reads::All)]));
    }

    #[test]
    fn strings_comments_and_members_named_input_are_not_references() {
        let r = reads(
            "package p\n# input.secret in a comment\n\
             x := \"input.attributes\"\ny := data.config.input.z\nz := input.risk.score\n",
        );
        assert_eq!(r, fields(&[("risk", fields(&[("score", Reads::All)]))]));
    }

    #[test]
    fn a_wider_reference_absorbs_a_narrower_one_in_either_order() {
        let a = reads("package p\nx := input.llm.model\ny := input.llm\n");
        let b = reads("package p\ny := input.llm\nx := input.llm.model\n");
        assert_eq!(a, fields(&[("llm", Reads::All)]));
        assert_eq!(a, b);
    }

    #[test]
    fn a_policy_without_input_reads_nothing() {
        assert_eq!(reads("package p\nx := 1\n"), Reads::Fields(BTreeMap::new()));
    }

    #[test]
    fn a_module_that_does_not_lex_keeps_everything() {
        assert_eq!(reads("package p\nx := \"unterminated\n"), Reads::All);
    }
}
