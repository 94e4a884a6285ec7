//! The one path from a parsed request to results, shared by every API: validate against the model,
//! convert to model inputs, take a concurrency slot (admission), queue, and wait (bounded by the
//! request timeout). Bodies are read before this (`upload`), so only validated requests hold slots.

use crate::api::{EmbedCall, RawInput};
use crate::backend::{Backend, BackendInfo, Embedding, Input, TokenInput, Truncate};
use crate::batch::{Item, Work};
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::state::AppState;
use std::sync::atomic::Ordering;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

/// Embeds every input of `call`, in order.
pub async fn embed(state: &AppState, call: EmbedCall) -> Result<Vec<Embedding>, ServerError> {
    let info = state.info()?;
    let items = build_items(call, &info, &state.config)?;
    let _slot = admit(state)?;
    let (reply, rx) = oneshot::channel();
    state.submit(Work::Embed { items, reply })?;
    wait(state, rx).await
}

/// Runs `f` on the worker thread with the backend (tokenizer work), through the same queue.
pub async fn call<T, F>(state: &AppState, f: F) -> Result<T, ServerError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Backend) -> Result<T, ServerError> + Send + 'static,
{
    state.info()?;
    let _slot = admit(state)?;
    let (reply, rx) = oneshot::channel();
    state.submit(Work::Call(Box::new(move |b: &dyn Backend| {
        if !reply.is_closed() {
            let _ = reply.send(f(b));
        }
    })))?;
    wait(state, rx).await
}

/// One of `max_concurrent` slots, counted in `ggufembed_requests_in_flight` until dropped (also
/// when the client leaves).
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
    state: AppState,
}

/// Takes a slot without waiting: 429 when all are taken (no hidden queue).
pub fn admit(state: &AppState) -> Result<Admitted, ServerError> {
    let permit =
        state
            .limiter
            .clone()
            .try_acquire_owned()
            .map_err(|_| ServerError::TooManyRequests {
                limit: state.config.max_concurrent,
            })?;
    state.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    Ok(Admitted {
        _permit: permit,
        state: state.clone(),
    })
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.state.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Waits for the worker's answer. On timeout the receiver is dropped, so queued work is skipped.
async fn wait<T>(
    state: &AppState,
    rx: oneshot::Receiver<Result<T, ServerError>>,
) -> Result<T, ServerError> {
    let limit = state.config.request_timeout;
    match tokio::time::timeout(limit, rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) if state.stopping() => Err(ServerError::ShuttingDown),
        Ok(Err(_)) => Err(ServerError::Model(
            "the model worker dropped the request".into(),
        )),
        Err(_) => Err(ServerError::Timeout {
            secs: limit.as_secs().max(1),
        }),
    }
}

/// Checks what can be checked before queueing (count, dimensions, token ids, lengths of token
/// inputs) and builds the model inputs. Text inputs are tokenized on the worker.
pub fn build_items(
    mut call: EmbedCall,
    info: &BackendInfo,
    config: &ServerConfig,
) -> Result<Vec<Item>, ServerError> {
    if call.inputs.len() > config.max_inputs {
        return Err(ServerError::Invalid(format!(
            "{} inputs in one request; the limit is {} (--max-inputs): split the request",
            call.inputs.len(),
            config.max_inputs
        )));
    }
    if let Some(d) = call.dims {
        if !info.supported_dims.contains(&d) {
            return Err(ServerError::BadDims {
                dims: d,
                supported: info.supported_dims.clone(),
            });
        }
    }
    let truncate = call.truncate.unwrap_or(config.truncate_default);
    std::mem::take(&mut call.inputs)
        .into_iter()
        .enumerate()
        .map(|(i, raw)| match raw {
            RawInput::Text(text) => Ok(Item::Text(Input {
                text,
                prompt_name: call.prompt_name.clone(),
                title: call.title.clone(),
                dims: call.dims,
                truncate: if truncate {
                    Truncate::Truncate
                } else {
                    Truncate::Error
                },
                normalize: call.normalize,
            })),
            RawInput::Tokens(ids) => token_input(ids, &call, truncate, info)
                .map(Item::Tokens)
                .map_err(|e| e.at(i)),
        })
        .collect()
}

/// Token ids are used as sent (the caller includes BOS/EOS); prompts cannot apply to them.
fn token_input(
    mut ids: Vec<u32>,
    call: &EmbedCall,
    truncate: bool,
    info: &BackendInfo,
) -> Result<TokenInput, ServerError> {
    if call.prompt_name.is_some() || call.title.is_some() {
        return Err(ServerError::Invalid(
            "prompt_name and title apply to text inputs only; this input is token ids (prepend the prompt's tokens yourself, or send text)".into(),
        ));
    }
    if let Some(&id) = ids.iter().find(|&&id| id as usize >= info.n_vocab) {
        return Err(ServerError::TokenOutOfRange {
            id: id as u64,
            n_vocab: info.n_vocab,
        });
    }
    let mut truncated = false;
    if ids.len() > info.n_ctx {
        if !truncate {
            return Err(ServerError::TooLong {
                n_tokens: ids.len(),
                max: info.n_ctx,
            });
        }
        truncated = tokenizer::truncate(&mut ids, info.n_ctx, info.eos_id);
    }
    Ok(TokenInput {
        ids,
        dims: call.dims,
        truncated,
        normalize: call.normalize,
    })
}
