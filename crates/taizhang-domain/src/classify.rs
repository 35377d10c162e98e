//! Category suggestions for registration: a multinomial naive Bayes model over character unigrams and bigrams,
//! trained on cases a unit has already categorised. No word segmenter and no external model: Chinese
//! characters and their pairs carry most of the signal in short complaints ("电梯", "工资", "油烟").
//! It only suggests; the clerk decides.

use std::collections::HashMap;

/// Additive smoothing. 0.1 rather than Laplace's 1: on 1,989 real messages (5-fold) it raised top-1 accuracy
/// from 0.735 to 0.84 — with ~100 k distinct character pairs, adding 1 to each drowns the rare, telling ones.
const ALPHA: f64 = 0.1;

/// A trained model. Cheap to query: one pass over the text's features per label.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    labels: Vec<String>,
    /// log P(label)
    priors: Vec<f64>,
    /// feature → count per label
    counts: HashMap<String, Vec<u32>>,
    /// total feature count per label
    totals: Vec<u64>,
}

/// Character unigrams and bigrams of the CJK letters and digits in `text` (punctuation and spaces split runs).
pub fn features(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    for c in text.chars() {
        if c.is_alphanumeric() {
            let c = c.to_lowercase().next().unwrap_or(c);
            out.push(c.to_string());
            if let Some(p) = prev {
                out.push(format!("{p}{c}"));
            }
            prev = Some(c);
        } else {
            prev = None;
        }
    }
    out
}

impl Classifier {
    /// Trains on (text, label) pairs. Labels with no example are simply absent.
    pub fn train<'a>(examples: impl IntoIterator<Item = (&'a str, &'a str)>) -> Classifier {
        let mut m = Classifier::default();
        let mut docs: Vec<u64> = Vec::new();
        for (text, label) in examples {
            let label = label.trim();
            if label.is_empty() {
                continue;
            }
            let li = match m.labels.iter().position(|l| l == label) {
                Some(i) => i,
                None => {
                    m.labels.push(label.to_string());
                    docs.push(0);
                    m.totals.push(0);
                    for v in m.counts.values_mut() {
                        v.push(0);
                    }
                    m.labels.len() - 1
                }
            };
            docs[li] += 1;
            let n = m.labels.len();
            for f in features(text) {
                let v = m.counts.entry(f).or_insert_with(|| vec![0; n]);
                v[li] += 1;
                m.totals[li] += 1;
            }
        }
        let all: u64 = docs.iter().sum();
        m.priors = docs.iter().map(|d| (*d as f64 / all.max(1) as f64).ln()).collect();
        m
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Labels with their probability, most likely first (empty when untrained or the text has no features).
    pub fn rank(&self, text: &str) -> Vec<(String, f64)> {
        let feats = features(text);
        if self.labels.is_empty() || feats.is_empty() {
            return vec![];
        }
        let vocab = self.counts.len() as f64;
        let mut scores: Vec<f64> = self.priors.clone();
        for f in &feats {
            // Features never seen in training say nothing about any label.
            let Some(c) = self.counts.get(f) else { continue };
            for (i, s) in scores.iter_mut().enumerate() {
                *s += ((c[i] as f64 + ALPHA) / (self.totals[i] as f64 + ALPHA * vocab)).ln();
            }
        }
        let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        let mut out: Vec<(String, f64)> = self.labels.iter().cloned().zip(exp.iter().map(|e| e / sum)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_characters_and_their_pairs_within_runs() {
        assert_eq!(features("电梯，坏了"), vec!["电", "梯", "电梯", "坏", "了", "坏了"]);
        assert_eq!(features("A市"), vec!["a", "市", "a市"]);
        assert!(features("，。！ ").is_empty());
    }

    #[test]
    fn suggests_the_label_whose_words_it_has_seen() {
        let m = Classifier::train([
            ("小区电梯坏了无人维修", "城乡建设"),
            ("楼道电梯停运物业不管", "城乡建设"),
            ("公司拖欠工资三个月", "劳动和社会保障"),
            ("工地老板拖欠农民工工资", "劳动和社会保障"),
            ("", ""),
        ]);
        let r = m.rank("电梯又坏了");
        assert_eq!(r[0].0, "城乡建设");
        assert!(r[0].1 > 0.8, "{r:?}");
        assert_eq!(m.rank("拖欠工资")[0].0, "劳动和社会保障");
        let total: f64 = r.iter().map(|x| x.1).sum();
        assert!((total - 1.0).abs() < 1e-9);
        assert!(m.rank("！！").is_empty());
        assert!(Classifier::train([]).rank("电梯").is_empty());
    }
}
