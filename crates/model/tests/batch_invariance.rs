//! A text's vector is bit-for-bit the same alone or inside any batch, at any thread count and
//! token budget (real Q8_0 model).

use model::{Embedder, EmbedderOptions, TokenInput};

/// A mix of lengths: tiny edge cases, man-page paragraphs, and one ~1.5k-token document.
const IDS: [u64; 8] = [0, 5, 17, 60, 120, 170, 230, 248];

fn inputs() -> Vec<TokenInput> {
    let tokens = testkit::corpus_tokens();
    IDS.iter()
        .map(|&id| {
            let t = tokens.iter().find(|t| t.id == id).expect("corpus id");
            assert!(t.token_ids.len() <= 2048);
            TokenInput::new(t.token_ids.clone())
        })
        .collect()
}

fn open(threads: usize) -> Embedder {
    let opts = EmbedderOptions {
        threads,
        ..EmbedderOptions::default()
    };
    Embedder::open(&testkit::q8_0_model(), &opts).expect("open Q8_0 model")
}

#[test]
fn vectors_do_not_depend_on_batch_threads_or_budget() {
    let inputs = inputs();

    // Each input alone, one thread.
    let mut e1 = open(1);
    let alone: Vec<Vec<f32>> = inputs
        .iter()
        .map(|i| {
            e1.embed_tokens(std::slice::from_ref(i)).unwrap()[0]
                .vector
                .clone()
        })
        .collect();
    drop(e1);

    let mut e2 = open(2);
    let check = |label: &str, order: &[usize], got: Vec<model::Embedding>| {
        assert_eq!(got.len(), order.len());
        for (&i, g) in order.iter().zip(&got) {
            assert!(
                g.vector == alone[i],
                "{label}: corpus id {} differs from its solo vector",
                IDS[i]
            );
        }
    };

    // All together (several forward passes of up to FORWARD_TOKENS), two threads.
    let all: Vec<usize> = (0..inputs.len()).collect();
    check("batch, 2 threads", &all, e2.embed_tokens(&inputs).unwrap());

    // Reversed with duplicates (a different packing), after a budget change: the scratch is
    // clamped to [n_ctx, max(n_ctx, FORWARD_TOKENS)] and reallocated.
    let order: Vec<usize> = vec![7, 3, 3, 6, 1, 0, 5, 2, 4, 1];
    let batch: Vec<TokenInput> = order.iter().map(|&i| inputs[i].clone()).collect();
    e2.set_max_batch_tokens(4096);
    let n_ctx = e2.info().n_ctx;
    assert_eq!(e2.max_batch_tokens(), n_ctx.max(model::FORWARD_TOKENS));
    check(
        "shuffled, budget changed",
        &order,
        e2.embed_tokens(&batch).unwrap(),
    );

    // Only short ones packed together.
    let order = vec![2, 0, 1];
    let batch: Vec<TokenInput> = order.iter().map(|&i| inputs[i].clone()).collect();
    check("short only", &order, e2.embed_tokens(&batch).unwrap());
}
