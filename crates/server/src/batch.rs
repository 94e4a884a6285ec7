//! Dynamic batching. One std thread owns the model. Requests arrive over a bounded channel and are
//! answered on oneshot channels. Their inputs are merged, in arrival order (FIFO: no request can be
//! overtaken), into ragged batches of at most `batch_tokens` tokens; one request's inputs may span
//! several batches. The worker only pulls from the channel while it holds less than a batch of
//! tokens, so everything beyond that waits in the bounded channel, and a full channel means 429.
//! Work whose client has gone (closed oneshot) is dropped before it is computed.

use crate::backend::{Backend, Embedding, Input, TokenInput};
use crate::error::ServerError;
use crate::state::AppState;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

pub type Reply<T> = oneshot::Sender<Result<T, ServerError>>;

/// A job that runs on the worker thread with the backend and answers on its own channel.
pub type BackendCall = Box<dyn FnOnce(&dyn Backend) + Send>;

/// One input of an embedding request, before tokenization (text) or already as ids.
#[derive(Debug, Clone)]
pub enum Item {
    Text(Input),
    Tokens(TokenInput),
}

/// What the worker is asked to do.
pub enum Work {
    /// Embed these inputs and answer with one embedding per input, in order.
    Embed {
        items: Vec<Item>,
        reply: Reply<Vec<Embedding>>,
    },
    /// A cheap call that needs the backend (tokenize, detokenize); it answers on its own channel.
    Call(BackendCall),
}

/// Starts the worker thread: it loads the model (so the HTTP server can bind first), reports the
/// result in `state`, then serves the queue until the channel closes or `state.stop()` and idle.
pub fn spawn_worker<B, L>(
    loader: L,
    rx: Receiver<Work>,
    state: AppState,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    B: Backend,
    L: FnOnce() -> Result<B, ServerError> + Send + 'static,
{
    std::thread::Builder::new()
        .name("ggufembed-model".into())
        .spawn(move || {
            let loaded = catch_unwind(AssertUnwindSafe(loader)).unwrap_or_else(|p| {
                Err(ServerError::Model(format!(
                    "loader panicked: {}",
                    panic_text(&p)
                )))
            });
            match loaded {
                Ok(backend) => {
                    state.set_model(Ok(backend.info()));
                    Worker::new(backend, state).run(rx);
                }
                Err(e) => {
                    state.set_model(Err(e.to_string()));
                    // Refuse queued work promptly rather than letting it time out.
                    drop(rx);
                }
            }
        })
}

/// A request being worked on: its inputs not yet batched, and the results so far.
struct Active {
    todo: VecDeque<TokenInput>,
    todo_tokens: usize,
    done: Vec<Embedding>,
    reply: Reply<Vec<Embedding>>,
}

struct Worker<B: Backend> {
    backend: B,
    state: AppState,
    pending: VecDeque<Active>,
    pending_tokens: usize,
}

impl<B: Backend> Worker<B> {
    fn new(backend: B, state: AppState) -> Self {
        Worker {
            backend,
            state,
            pending: VecDeque::new(),
            pending_tokens: 0,
        }
    }

    fn budget(&self) -> usize {
        self.state.config.batch_tokens.max(1)
    }

    fn run(mut self, rx: Receiver<Work>) {
        loop {
            if self.pending.is_empty() {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(w) => self.admit(w),
                    Err(RecvTimeoutError::Timeout) if self.state.stopping() => return,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            while self.pending_tokens < self.budget() {
                match rx.try_recv() {
                    Ok(w) => self.admit(w),
                    Err(_) => break,
                }
            }
            self.drop_cancelled();
            if !self.pending.is_empty() {
                self.run_batch();
            }
        }
    }

    /// Takes one unit of work off the queue: calls run now, embeddings are tokenized and parked.
    fn admit(&mut self, work: Work) {
        self.state
            .metrics
            .queue_depth
            .fetch_sub(1, Ordering::AcqRel);
        match work {
            Work::Call(f) => {
                let backend: &dyn Backend = &self.backend;
                // A panicking call drops its reply sender, which its handler reports as an error.
                let _ = catch_unwind(AssertUnwindSafe(|| f(backend)));
            }
            Work::Embed { items, reply } => {
                if reply.is_closed() {
                    self.state.metrics.cancelled.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                match self.tokenize(items) {
                    Ok(todo) => {
                        let todo_tokens = todo.iter().map(|t| t.ids.len()).sum();
                        self.pending_tokens += todo_tokens;
                        self.pending.push_back(Active {
                            done: Vec::with_capacity(todo.len()),
                            todo,
                            todo_tokens,
                            reply,
                        });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
        }
    }

    fn tokenize(&self, items: Vec<Item>) -> Result<VecDeque<TokenInput>, ServerError> {
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Item::Tokens(t) => Ok(t),
                Item::Text(input) => {
                    catch_unwind(AssertUnwindSafe(|| self.backend.prepare(&input)))
                        .unwrap_or_else(|p| {
                            Err(ServerError::Model(format!(
                                "tokenizer panicked: {}",
                                panic_text(&p)
                            )))
                        })
                        .map_err(|e| e.at(i))
                }
            })
            .collect()
    }

    /// Forgets requests whose handler has gone (client disconnected or timed out).
    fn drop_cancelled(&mut self) {
        let before = self.pending.len();
        let mut freed = 0;
        self.pending.retain(|a| {
            let keep = !a.reply.is_closed();
            if !keep {
                freed += a.todo_tokens;
            }
            keep
        });
        self.pending_tokens -= freed;
        let n = (before - self.pending.len()) as u64;
        self.state.metrics.cancelled.fetch_add(n, Ordering::Relaxed);
    }

    /// Fills one batch from the front of the FIFO, computes it and hands out the results.
    fn run_batch(&mut self) {
        let budget = self.budget();
        let mut batch: Vec<TokenInput> = Vec::new();
        let mut owners: Vec<usize> = Vec::new(); // [batch.len()] index into `pending`
        let mut tokens = 0;
        'fill: for (j, a) in self.pending.iter_mut().enumerate() {
            while let Some(next) = a.todo.front() {
                let n = next.ids.len();
                if !batch.is_empty() && tokens + n > budget {
                    break 'fill;
                }
                tokens += n;
                a.todo_tokens -= n;
                batch.extend(a.todo.pop_front());
                owners.push(j);
            }
        }
        self.pending_tokens -= tokens;

        let m = &self.state.metrics;
        let t0 = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| self.backend.embed_tokens(&batch)))
            .unwrap_or_else(|p| {
                Err(ServerError::Model(format!(
                    "model panicked: {}",
                    panic_text(&p)
                )))
            });
        m.batch_seconds.observe(t0.elapsed().as_secs_f64());
        m.batch_inputs.observe(batch.len() as f64);
        m.batch_tokens.observe(tokens as f64);

        match result {
            Ok(embs) if embs.len() == batch.len() => {
                m.tokens_embedded
                    .fetch_add(tokens as u64, Ordering::Relaxed);
                m.inputs_embedded
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                for (e, j) in embs.into_iter().zip(owners) {
                    self.pending[j].done.push(e);
                }
                // FIFO: the requests that just finished are a prefix of `pending`.
                while self.pending.front().is_some_and(|a| a.todo.is_empty()) {
                    if let Some(a) = self.pending.pop_front() {
                        let _ = a.reply.send(Ok(a.done));
                    }
                }
            }
            other => {
                let msg = match other {
                    Ok(embs) => format!(
                        "model returned {} embeddings for {} inputs",
                        embs.len(),
                        batch.len()
                    ),
                    Err(e) => e.to_string(),
                };
                // Every request with an input in this batch fails; the rest carry on.
                let last = owners.last().copied().unwrap_or(0);
                for a in self.pending.drain(..=last) {
                    self.pending_tokens -= a.todo_tokens;
                    let _ = a.reply.send(Err(ServerError::Model(msg.clone())));
                }
            }
        }
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
