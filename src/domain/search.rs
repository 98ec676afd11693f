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

/// Tokens to index for `text` (deduplicated, in first-seen order).
pub fn index_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for run in runs(text) {
        match run {
            Run::Cjk(chars) => {
                tokens.extend(chars.iter().map(char::to_string));
                tokens.extend(chars.windows(2).map(|pair| pair.iter().collect::<String>()));
            }
            Run::Word(word) => tokens.push(word),
        }
    }
    dedup(tokens)
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
        let mut tokens = Vec::new();
        for run in runs(text) {
            match run {
                Run::Cjk(chars) if chars.len() == 1 => tokens.push(chars[0].to_string()),
                Run::Cjk(chars) => {
                    tokens.extend(chars.windows(2).map(|pair| pair.iter().collect::<String>()))
                }
                Run::Word(word) => tokens.push(word),
            }
        }
        Ok(Self {
            text: text.to_owned(),
            tokens: dedup(tokens),
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

enum Run {
    Cjk(Vec<char>),
    Word(String),
}

fn runs(text: &str) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut cjk: Vec<char> = Vec::new();
    let mut word = String::new();
    for ch in text.chars().map(fold_width) {
        if is_cjk(ch) {
            if !word.is_empty() {
                runs.push(Run::Word(std::mem::take(&mut word)));
            }
            cjk.push(ch);
        } else if ch.is_alphanumeric() {
            if !cjk.is_empty() {
                runs.push(Run::Cjk(std::mem::take(&mut cjk)));
            }
            // Letters and digits are separate words, so `GB/T19630` and
            // `GB/T 19630` index and search alike.
            let switches = word
                .chars()
                .last()
                .is_some_and(|last| last.is_numeric() != ch.is_numeric());
            if switches || word.chars().count() >= MAX_WORD_CHARS {
                runs.push(Run::Word(std::mem::take(&mut word)));
            }
            word.extend(ch.to_lowercase());
        } else {
            if !cjk.is_empty() {
                runs.push(Run::Cjk(std::mem::take(&mut cjk)));
            }
            if !word.is_empty() {
                runs.push(Run::Word(std::mem::take(&mut word)));
            }
        }
    }
    if !cjk.is_empty() {
        runs.push(Run::Cjk(cjk));
    }
    if !word.is_empty() {
        runs.push(Run::Word(word));
    }
    runs
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

fn dedup(tokens: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    tokens
        .into_iter()
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_indexed_as_unigrams_and_bigrams() {
        assert_eq!(index_tokens("有机茶"), ["有", "机", "茶", "有机", "机茶"]);
        assert_eq!(SearchQuery::parse("茶").unwrap().tokens(), ["茶"]);
        assert_eq!(
            SearchQuery::parse("有机产品").unwrap().tokens(),
            ["有机", "机产", "产品"]
        );
    }

    #[test]
    fn latin_and_digits_are_words_and_full_width_folds() {
        assert_eq!(
            index_tokens("GB/T 19630-2019"),
            ["gb", "t", "19630", "2019"]
        );
        assert_eq!(
            SearchQuery::parse("ＧＢ／Ｔ１９６３０").unwrap().tokens(),
            ["gb", "t", "19630"]
        );
        assert_eq!(index_tokens("GB/T19630"), index_tokens("GB/T 19630"));
        assert_eq!(index_tokens("VR技术"), ["vr", "技", "术", "技术"]);
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
