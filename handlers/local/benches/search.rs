//! Search latency of the local index over many contracts: builds an index of `--contracts` contracts
//! (default 5,000, spread over `--orgs` orgs, default 1) by cycling the CUAD dev texts with fresh
//! contract ids and naive `--chunk`-character chunks (default 1,200), one `replace_contract` (one
//! commit) per contract as the service does (the first 200 one at a time, the rest `--concurrency`
//! at a time, default 4, as several workers would, sharing commits), then times `--queries` searches
//! (default 1,000; words and phrases drawn from the texts) with `top = 10` through the port.
//!
//! Baselines in the same run, over the same data and queries: `count()` through the port (the cost of
//! the port's blocking-pool hop and a term lookup), and a plain tantivy index of the same chunks (the
//! analyzer's words as terms, text stored in the clear, same org filter and top 10, stored fields read)
//! searched the same way: the cost of hashing and sealing is the ratio to that one.
//!
//! `cargo bench -p clment-local --bench search -- [--contracts N] [--orgs N] [--queries N] [--chunk N]
//! [--concurrency N] [--no-plain]`

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clment_common::TenantScope;
use clment_common::domain::{ContractId, Region};
use clment_common::ports::{ChunkDoc, SearchIndex, SearchQuery};
use clment_common::text::analyze;
use clment_local::{DataDir, LocalIndex, LocalStore, MasterKey};
use futures_util::StreamExt as _;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value as _,
};
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::{Index, IndexWriter, ReloadPolicy, TantivyDocument, Term};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().ok().expect("a number"))
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// A small deterministic generator (xorshift64*), so runs draw the same queries.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("fits")
    }
}

fn cuad_texts() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cuad/dev");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("the CUAD texts are missing at {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn naive_chunks(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn docs(contract: ContractId, chunks: &[String], size: usize) -> Vec<ChunkDoc> {
    chunks
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let ordinal = u32::try_from(i).unwrap();
            let start = (i * size) as u64;
            ChunkDoc {
                id: ChunkDoc::id_for(contract, ordinal),
                contract,
                ordinal,
                start,
                end: start + text.chars().count() as u64,
                page_start: 1,
                page_end: 1,
                text: text.clone(),
                vector: None,
            }
        })
        .collect()
}

struct Stats {
    sorted: Vec<Duration>,
}

impl Stats {
    fn new(mut all: Vec<Duration>) -> Self {
        all.sort();
        Self { sorted: all }
    }

    fn pct(&self, p: f64) -> Duration {
        let n = self.sorted.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.sorted[rank.clamp(1, n) - 1]
    }

    fn row(&self) -> [Duration; 4] {
        [
            self.pct(50.0),
            self.pct(95.0),
            self.pct(99.0),
            *self.sorted.last().unwrap(),
        ]
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn print_row(name: &str, s: &Stats) {
    let [p50, p95, p99, max] = s.row();
    println!(
        "{name:<44} p50 {:>10}  p95 {:>10}  p99 {:>10}  max {:>10}",
        ms(p50),
        ms(p95),
        ms(p99),
        ms(max)
    );
}

fn print_ratio(name: &str, a: &Stats, b: &Stats) {
    let r = |x: Duration, y: Duration| x.as_secs_f64() / y.as_secs_f64().max(1e-9);
    let [a50, a95, a99, amax] = a.row();
    let [b50, b95, b99, bmax] = b.row();
    println!(
        "{name:<44} p50 {:>9.2}x  p95 {:>9.2}x  p99 {:>9.2}x  max {:>9.2}x",
        r(a50, b50),
        r(a95, b95),
        r(a99, b99),
        r(amax, bmax)
    );
}

/// The plain baseline: the same chunks with the analyzer's words as terms and the text in the clear.
struct Plain {
    reader: tantivy::IndexReader,
    org: tantivy::schema::Field,
    terms: tantivy::schema::Field,
    chunk: tantivy::schema::Field,
    text: tantivy::schema::Field,
}

impl Plain {
    fn build(
        path: &Path,
        plan: &[(usize, ContractId, usize)],
        chunked: &[Vec<String>],
    ) -> (Self, Duration) {
        let mut b = Schema::builder();
        let org = b.add_text_field("org", STRING);
        let terms = b.add_text_field(
            "terms",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            ),
        );
        let chunk = b.add_text_field("chunk", STORED);
        let text = b.add_text_field("text", STORED);
        std::fs::create_dir_all(path).unwrap();
        let index = Index::create_in_dir(path, b.build()).unwrap();
        let started = Instant::now();
        let mut writer: IndexWriter<TantivyDocument> =
            index.writer_with_num_threads(1, 50 << 20).unwrap();
        for (n, (o, contract, t)) in plan.iter().enumerate() {
            for (i, c) in chunked[*t].iter().enumerate() {
                let tokens = analyze::tokens(c)
                    .into_iter()
                    .enumerate()
                    .map(|(position, t)| Token {
                        offset_from: t.start,
                        offset_to: t.end,
                        position,
                        text: t.term,
                        position_length: 1,
                    })
                    .collect();
                let mut doc = TantivyDocument::new();
                doc.add_text(org, format!("bench-{o}"));
                doc.add_pre_tokenized_text(
                    terms,
                    PreTokenizedString {
                        text: String::new(),
                        tokens,
                    },
                );
                doc.add_text(
                    chunk,
                    ChunkDoc::id_for(*contract, u32::try_from(i).unwrap()),
                );
                doc.add_text(text, c);
                writer.add_document(doc).unwrap();
            }
            if n % 250 == 249 {
                writer.commit().unwrap();
            }
        }
        writer.commit().unwrap();
        writer.wait_merging_threads().unwrap();
        let took = started.elapsed();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .unwrap();
        (
            Self {
                reader,
                org,
                terms,
                chunk,
                text,
            },
            took,
        )
    }

    fn search(&self, org: usize, text: &str) -> usize {
        let searcher = self.reader.searcher();
        let words: Vec<(Occur, Box<dyn Query>)> = analyze::query_terms(text, 32)
            .iter()
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.terms, t),
                    IndexRecordOption::WithFreqs,
                ));
                (Occur::Should, q)
            })
            .collect();
        if words.is_empty() {
            return 0;
        }
        let org_filter: Box<dyn Query> = Box::new(ConstScoreQuery::new(
            Box::new(TermQuery::new(
                Term::from_field_text(self.org, &format!("bench-{org}")),
                IndexRecordOption::Basic,
            )),
            0.0,
        ));
        let q = BooleanQuery::new(vec![
            (Occur::Must, org_filter),
            (Occur::Must, Box::new(BooleanQuery::new(words))),
        ]);
        let top = searcher
            .search(&q, &TopDocs::with_limit(11).order_by_score())
            .unwrap();
        let mut n = 0;
        for (_, addr) in top.iter().take(10) {
            let doc: TantivyDocument = searcher.doc(*addr).unwrap();
            let id = doc.get_first(self.chunk).and_then(|v| v.as_str()).unwrap();
            let text = doc.get_first(self.text).and_then(|v| v.as_str()).unwrap();
            n += usize::from(!id.is_empty() && !text.is_empty());
        }
        n
    }
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[allow(clippy::too_many_lines)]
fn main() {
    let contracts: usize = arg("--contracts", 5_000);
    let orgs: usize = arg("--orgs", 1);
    let queries: usize = arg("--queries", 1_000);
    let size: usize = arg("--chunk", 1_200);
    let concurrency: usize = arg("--concurrency", 4);
    let texts = cuad_texts();
    let chunked: Vec<Vec<String>> = texts.iter().map(|t| naive_chunks(t, size)).collect();
    let words: Vec<Vec<&str>> = texts
        .iter()
        .map(|t| {
            t.split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.len() > 2)
                .collect()
        })
        .collect();

    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::open(&tmp.path().join("data")).unwrap();
    let store = LocalStore::open(&dir).unwrap();
    let master = MasterKey::load_or_create(&dir, None).unwrap();
    let index = Arc::new(LocalIndex::open(&dir, store, master).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let scopes: Vec<TenantScope> = (0..orgs)
        .map(|o| TenantScope::for_tests(&format!("bench-{o}"), Region::Us))
        .collect();

    // 1. Build: one replace_contract (one commit) per contract.
    let plan: Vec<(usize, ContractId, usize)> = (0..contracts)
        .map(|i| (i % orgs, ContractId::new(), i % texts.len()))
        .collect();
    let total_chunks: usize = plan.iter().map(|(_, _, t)| chunked[*t].len()).sum();
    let total_chars: usize = plan.iter().map(|(_, _, t)| texts[*t].len()).sum();
    println!(
        "building: {contracts} contracts in {orgs} org(s), {total_chunks} chunks of ~{size} characters, \
         {:.0} MB of text (CUAD dev texts cycled: {})",
        total_chars as f64 / 1e6,
        texts.len()
    );
    // The first contracts one at a time (one commit each), the rest `--concurrency` at a time (as
    // several workers would: concurrent writes share commits).
    let sequential = contracts.min(200);
    let started = Instant::now();
    rt.block_on(async {
        for (o, contract, t) in &plan[..sequential] {
            index
                .replace_contract(&scopes[*o], *contract, docs(*contract, &chunked[*t], size))
                .await
                .unwrap();
        }
    });
    let one_at_a_time = started.elapsed();
    println!(
        "  {sequential} contracts one at a time: {:.1} s ({:.1} contracts/s)",
        one_at_a_time.as_secs_f64(),
        sequential as f64 / one_at_a_time.as_secs_f64()
    );
    let done = std::sync::atomic::AtomicUsize::new(sequential);
    let rest_started = Instant::now();
    rt.block_on(
        futures_util::stream::iter(&plan[sequential..]).for_each_concurrent(
            concurrency,
            |(o, contract, t)| {
                let (index, scope) = (index.clone(), scopes[*o].clone());
                let docs = docs(*contract, &chunked[*t], size);
                let done = &done;
                async move {
                    index
                        .replace_contract(&scope, *contract, docs)
                        .await
                        .unwrap();
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if n.is_multiple_of(1_000) {
                        println!("  {n} contracts, {:.1} s", started.elapsed().as_secs_f64());
                    }
                }
            },
        ),
    );
    if contracts > sequential {
        let rest = rest_started.elapsed();
        println!(
            "  {} contracts {concurrency} at a time: {:.1} s ({:.1} contracts/s)",
            contracts - sequential,
            rest.as_secs_f64(),
            (contracts - sequential) as f64 / rest.as_secs_f64()
        );
    }
    let build = started.elapsed();
    let size_on_disk = rt.block_on(index.size_on_disk()).unwrap();
    println!(
        "built in {:.1} s ({:.1} contracts/s, {:.0} chunks/s); index on disk {:.1} MB",
        build.as_secs_f64(),
        contracts as f64 / build.as_secs_f64(),
        total_chunks as f64 / build.as_secs_f64(),
        size_on_disk as f64 / 1e6
    );

    // 2. Queries: a word, three words or eight words in a row, from a random text, in a random org.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let drawn: Vec<(usize, String)> = (0..queries)
        .map(|i| {
            let w = &words[rng.below(words.len())];
            let len = [1, 3, 8][i % 3].min(w.len());
            let at = rng.below(w.len() - len + 1);
            (rng.below(orgs), w[at..at + len].join(" "))
        })
        .collect();
    let run = |q: &(usize, String)| {
        let index = index.clone();
        let scope = scopes[q.0].clone();
        let query = SearchQuery {
            text: q.1.clone(),
            contract: None,
            top: 10,
            skip: 0,
            vector: None,
        };
        async move {
            let started = Instant::now();
            let page = index.search(&scope, &query).await.unwrap();
            (started.elapsed(), page.hits.len())
        }
    };
    // Warm-up (page cache, key caches).
    rt.block_on(async {
        for q in drawn.iter().take(50) {
            run(q).await;
        }
    });
    let (search, hits) = rt.block_on(async {
        let mut lat = Vec::with_capacity(queries);
        let mut hits = 0;
        for q in &drawn {
            let (d, n) = run(q).await;
            lat.push(d);
            hits += n;
        }
        (Stats::new(lat), hits)
    });
    let counts = rt.block_on(async {
        let mut lat = Vec::with_capacity(queries);
        for i in 0..queries {
            let (o, contract, _) = plan[rng.below(plan.len())];
            let started = Instant::now();
            let n = index.count(&scopes[o], contract).await.unwrap();
            lat.push(started.elapsed());
            assert!(n > 0, "query {i}");
        }
        Stats::new(lat)
    });

    println!();
    println!(
        "{queries} queries, top 10 ({:.2} hits per query on average)",
        hits as f64 / queries as f64
    );
    print_row("search() (hashed terms, sealed text)", &search);
    print_row("baseline: count() through the port", &counts);
    print_ratio("ratio search() / count()", &search, &counts);

    if !flag("--no-plain") {
        drop(index);
        let (plain, plain_build) = Plain::build(&tmp.path().join("plain"), &plan, &chunked);
        println!(
            "plain tantivy baseline built in {:.1} s (commit every 250 contracts), {:.1} MB on disk",
            plain_build.as_secs_f64(),
            dir_size(&tmp.path().join("plain")) as f64 / 1e6
        );
        let plain = Arc::new(plain);
        let lat = rt.block_on(async {
            let mut lat = Vec::with_capacity(queries);
            for q in drawn.iter().take(50).chain(&drawn) {
                let plain = plain.clone();
                let (o, text) = q.clone();
                let started = Instant::now();
                tokio::task::spawn_blocking(move || plain.search(o, &text))
                    .await
                    .unwrap();
                lat.push(started.elapsed());
            }
            Stats::new(lat.split_off(50.min(lat.len())))
        });
        print_row("baseline: plain tantivy (words, clear text)", &lat);
        print_ratio("ratio search() / plain tantivy", &search, &lat);
    }
}
