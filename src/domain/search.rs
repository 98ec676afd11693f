//! The one tokenizer behind Chinese search on both backends.
//!
//! Chinese has no spaces, so words cannot be found by splitting. Each run of
//! CJK characters is indexed as its single characters and its overlapping
//! pairs (bigrams); runs of Latin letters and digits are indexed as
//! lower-cased words. A query is tokenized the same way: one CJK character
//! looks up its unigram, longer CJK runs their bigrams (all must occur), so
//! 茶 and 有机 both work and no query needs a scan. The tokens are plain
//! letters and digits, so nothing a user types can become index syntax.

use super::Invalid;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 100;

/// Longer Latin words are split: PostgreSQL refuses lexemes over 2 KiB, and
/// nobody searches for a 64-letter word.
const MAX_WORD_CHARS: usize = 64;

/// The tokens to index for a text: deduplicated, in first-seen order, held
/// in one space-separated string (a token never contains a space). One
/// string rather than a `String` per token: an import tokenizes every
/// record, and allocating and hashing a copy of each token was 15 % of the
/// import of 200,000 certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexTokens(String);

impl IndexTokens {
    /// The tokens separated by single spaces: what the FTS5 `ascii`
    /// tokenizer reads back as the same tokens.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|t| !t.is_empty())
    }
}

/// Tokens to index for `text`: every CJK character and every pair of
/// neighbours in a CJK run, and every Latin word.
pub fn index_tokens(text: &str) -> IndexTokens {
    let mut all = String::with_capacity(text.len() * 3);
    each_run(text, |run| match run {
        Run::Cjk(chars) => {
            for ch in chars {
                all.push(*ch);
                all.push(' ');
            }
            for pair in chars.windows(2) {
                all.extend(pair);
                all.push(' ');
            }
        }
        Run::Word(word) => {
            all.push_str(word);
            all.push(' ');
        }
    });
    let mut seen = std::collections::HashSet::with_capacity(all.len() / 4);
    let mut joined = String::with_capacity(all.len());
    for token in all.split(' ').filter(|t| !t.is_empty()) {
        if seen.insert(token) {
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(token);
        }
    }
    IndexTokens(joined)
}

/// A validated search query: the tokens that must all occur.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    text: String,
    tokens: Vec<String>,
}

impl utoipa::PartialSchema for SearchQuery {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .min_length(Some(1))
            .max_length(Some(100))
            // Not blank, and no NUL.
            .pattern(Some(r"^[^\u0000]*[^\s\u0000][^\u0000]*$"))
            .description(Some(
                "Search text: 1 to 100 characters, not blank; matched as words, never as syntax.",
            ))
            .examples([serde_json::json!("有机")])
            .into()
    }
}

impl utoipa::ToSchema for SearchQuery {}

impl SearchQuery {
    /// Refuses blank input, NUL and over-long input. Input with no letters,
    /// digits or CJK characters (`*`, `"`) is a valid query that matches
    /// nothing: it is searched for literally, and no record consists of it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(Invalid::new(
                "must not be blank; omit it to list everything",
            ));
        }
        if text.contains('\0') {
            return Err(Invalid::new("must not contain NUL characters"));
        }
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(Invalid(format!(
                "must be at most {MAX_QUERY_CHARS} characters"
            )));
        }
        let mut tokens: Vec<String> = Vec::new();
        each_run(text, |run| {
            let new: Vec<String> = match run {
                Run::Cjk([single]) => vec![single.to_string()],
                Run::Cjk(chars) => chars.windows(2).map(String::from_iter).collect(),
                Run::Word(word) => vec![word.to_owned()],
            };
            for token in new {
                if !tokens.contains(&token) {
                    tokens.push(token);
                }
            }
        });
        Ok(Self {
            text: text.to_owned(),
            tokens,
        })
    }

    /// The tokens that must all occur; empty when nothing can match.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The query as given, trimmed.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A run of a text: CJK characters, or one Latin word (lower-cased).
enum Run<'a> {
    Cjk(&'a [char]),
    Word(&'a str),
}

/// Calls `visit` with each run of `text`, in order, reusing two buffers.
fn each_run(text: &str, mut visit: impl FnMut(Run<'_>)) {
    let mut cjk: Vec<char> = Vec::new();
    let mut word = String::new();
    let mut word_chars = 0;
    for ch in text.chars().map(fold_width) {
        let in_cjk = is_cjk(ch);
        let in_word = !in_cjk && ch.is_alphanumeric();
        // At most one of the two runs is open: each kind of character
        // closes the other kind's run, a separator closes both.
        if !in_cjk && !cjk.is_empty() {
            visit(Run::Cjk(&cjk));
            cjk.clear();
        }
        if !in_word && !word.is_empty() {
            visit(Run::Word(&word));
            word.clear();
            word_chars = 0;
        }
        if in_cjk {
            cjk.push(ch);
        } else if in_word {
            // Letters and digits are separate words, so `GB/T19630` and
            // `GB/T 19630` index and search alike.
            let switches = word
                .chars()
                .next_back()
                .is_some_and(|last| last.is_numeric() != ch.is_numeric());
            if switches || word_chars >= MAX_WORD_CHARS {
                visit(Run::Word(&word));
                word.clear();
                word_chars = 0;
            }
            for lower in ch.to_lowercase() {
                word.push(lower);
                word_chars += 1;
            }
        }
    }
    if !cjk.is_empty() {
        visit(Run::Cjk(&cjk));
    }
    if !word.is_empty() {
        visit(Run::Word(&word));
    }
}

/// Full-width ASCII (ＧＢ１９６３０) searches like its ASCII form.
fn fold_width(ch: char) -> char {
    match ch {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(ch as u32 - 0xFEE0).unwrap_or(ch),
        '\u{3000}' => ' ',
        _ => ch,
    }
}

fn is_cjk(ch: char) -> bool {
    matches!(ch,
        '\u{3400}'..='\u{4DBF}'   // CJK Extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK Unified Ideographs
        | '\u{F900}'..='\u{FAFF}' // Compatibility Ideographs
        | '\u{20000}'..='\u{2FA1F}' // Extensions B–F, compatibility supplement
        | '\u{3041}'..='\u{3096}' // hiragana letters
        | '\u{30A1}'..='\u{30FA}' // katakana letters
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_indexed_as_unigrams_and_bigrams() {
        assert_eq!(index_tokens("有机茶").as_str(), "有 机 茶 有机 机茶");
        assert_eq!(SearchQuery::parse("茶").unwrap().tokens(), ["茶"]);
        assert_eq!(
            SearchQuery::parse("有机产品").unwrap().tokens(),
            ["有机", "机产", "产品"]
        );
    }

    #[test]
    fn latin_and_digits_are_words_and_full_width_folds() {
        assert_eq!(index_tokens("GB/T 19630-2019").as_str(), "gb t 19630 2019");
        assert_eq!(
            SearchQuery::parse("ＧＢ／Ｔ１９６３０").unwrap().tokens(),
            ["gb", "t", "19630"]
        );
        assert_eq!(index_tokens("GB/T19630"), index_tokens("GB/T 19630"));
        assert_eq!(index_tokens("VR技术").as_str(), "vr 技 术 技术");
    }

    #[test]
    fn index_tokens_are_deduplicated_in_first_seen_order() {
        assert_eq!(
            index_tokens("茶茶 tea TEA 茶").iter().collect::<Vec<_>>(),
            ["茶", "茶茶", "tea"]
        );
        assert_eq!(index_tokens("  ，").as_str(), "");
        assert_eq!(index_tokens("  ，").iter().count(), 0);
    }

    #[test]
    fn syntax_characters_are_not_tokens() {
        for raw in ["\"", "*", "(", "%", "_", "\\"] {
            assert!(
                SearchQuery::parse(raw).unwrap().tokens().is_empty(),
                "{raw}"
            );
        }
        assert!(SearchQuery::parse("  ").is_err());
        assert_eq!(SearchQuery::parse("a\"b").unwrap().tokens(), ["a", "b"]);
        assert_eq!(
            SearchQuery::parse("' OR 1=1 --").unwrap().tokens(),
            ["or", "1"]
        );
        assert!(SearchQuery::parse("a\0b").is_err());
        assert!(SearchQuery::parse(&"茶".repeat(101)).is_err());
    }
}
