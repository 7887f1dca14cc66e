//! A Slack incoming-webhook payload within Slack's limits: `text` (the
//! notification fallback, at most 40,000 characters; Slack truncates
//! beyond), and `blocks` (at most 50), a header block of at most 150
//! characters and section blocks of at most 3,000 characters each.

use serde_json::{Value, json};

pub const MAX_TEXT: usize = 40_000;
pub const MAX_BLOCKS: usize = 50;
pub const MAX_HEADER: usize = 150;
pub const MAX_SECTION: usize = 3_000;

pub fn payload(subject: &str, text: &str) -> Value {
    let mut blocks = Vec::new();
    if !subject.is_empty() {
        blocks.push(json!({"type": "header", "text": {"type": "plain_text", "text": cut(subject, MAX_HEADER), "emoji": true}}));
    }
    let sections = chunks(text, MAX_SECTION);
    let room = MAX_BLOCKS - blocks.len();
    let overflow = sections.len() > room;
    for (index, chunk) in sections.into_iter().take(room).enumerate() {
        let chunk = if overflow && index == room - 1 { format!("{}…", cut(&chunk, MAX_SECTION - 1)) } else { chunk };
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": chunk}}));
    }
    let fallback = if subject.is_empty() { text.to_owned() } else { format!("{subject}\n{text}") };
    json!({"text": cut(&fallback, MAX_TEXT), "blocks": blocks})
}

/// The first `max` characters (not bytes).
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn chunks(text: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(max).map(|chunk| chunk.iter().collect()).filter(|chunk: &String| !chunk.trim().is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_message_is_a_header_and_a_section() {
        let payload = payload("Study done", "All *good*.");
        assert_eq!(payload["text"], "Study done\nAll *good*.");
        assert_eq!(payload["blocks"][0]["type"], "header");
        assert_eq!(payload["blocks"][1]["text"]["text"], "All *good*.");
    }

    #[test]
    fn long_messages_stay_within_every_limit() {
        let subject = "é".repeat(400);
        let text = "x".repeat(MAX_SECTION * 60 + 17);
        let payload = payload(&subject, &text);
        let blocks = payload["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), MAX_BLOCKS);
        assert_eq!(blocks[0]["text"]["text"].as_str().unwrap().chars().count(), MAX_HEADER);
        assert!(blocks[1..].iter().all(|b| b["text"]["text"].as_str().unwrap().chars().count() <= MAX_SECTION));
        assert!(blocks[49]["text"]["text"].as_str().unwrap().ends_with('…'));
        assert_eq!(payload["text"].as_str().unwrap().chars().count(), MAX_TEXT);
    }
}
