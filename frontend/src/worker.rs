//! The page's side of the Web Worker (`src/bin/medseal-worker.rs`): heavy work runs there, the
//! page gets progress reports and can cancel at any time.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, Worker};

/// Built by Trunk from `src/bin/medseal-worker.rs` (see index.html).
const WORKER_URL: &str = "/medseal-worker_loader.js";

/// Why a worker job ended without a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobFailure {
    /// A stable code: `cancelled`, `password_required`, `wrong_password`, `wrong_key`,
    /// `tampered`, `worker` and others from the worker.
    pub code: String,
    pub message: String,
}

/// A running job: cancel it from a button while `run` awaits.
#[derive(Clone, Default)]
pub struct Canceller(Rc<RefCell<Option<(Worker, Function)>>>);

impl PartialEq for Canceller {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Canceller {
    /// Stops the worker at once and ends the job with the `cancelled` code.
    pub fn cancel(&self) {
        if let Some((worker, reject)) = self.0.borrow_mut().take() {
            worker.terminate();
            let _ = reject.call1(&JsValue::NULL, &failure_object("cancelled", "Cancelled."));
        }
    }
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn failure_object(code: &str, message: &str) -> JsValue {
    let object = Object::new();
    let _ = Reflect::set(&object, &"code".into(), &code.into());
    let _ = Reflect::set(&object, &"message".into(), &message.into());
    object.into()
}

/// Sends `request` to a fresh worker (moving the buffers in `transfer`), reports progress, and
/// returns the worker's final message.
pub async fn run(
    request: &Object,
    transfer: &Array,
    on_progress: impl Fn(String, f64) + 'static,
    canceller: &Canceller,
) -> Result<JsValue, JobFailure> {
    run_with(WORKER_URL, request, transfer, on_progress, canceller).await
}

/// As [`run`], with another worker script of the same protocol (such as the study worker).
pub async fn run_with(
    worker_url: &str,
    request: &Object,
    transfer: &Array,
    on_progress: impl Fn(String, f64) + 'static,
    canceller: &Canceller,
) -> Result<JsValue, JobFailure> {
    let worker = Worker::new(worker_url).map_err(|_| JobFailure {
        code: "worker".into(),
        message: "This browser could not start MedSeal's background worker.".into(),
    })?;
    let slot = canceller.0.clone();
    let started = worker.clone();
    let mut closures = Vec::new();
    let on_progress = Rc::new(on_progress);
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        *slot.borrow_mut() = Some((started.clone(), reject.clone()));
        let reject_on_error = reject.clone();
        let (request, transfer, target) = (request.clone(), transfer.clone(), started.clone());
        let on_progress = on_progress.clone();
        let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |event: MessageEvent| {
            let data = event.data();
            match get(&data, "type").as_string().as_deref() {
                // The worker's wasm is loaded and listening: only now can it receive the job.
                Some("ready") => {
                    if target
                        .post_message_with_transfer(&request, &transfer)
                        .is_err()
                    {
                        let _ = reject.call1(
                            &JsValue::NULL,
                            &failure_object(
                                "worker",
                                "The file could not be handed to MedSeal's background worker.",
                            ),
                        );
                    }
                }
                Some("progress") => on_progress(
                    get(&data, "stage").as_string().unwrap_or_default(),
                    get(&data, "fraction").as_f64().unwrap_or(0.0),
                ),
                Some("error") => drop(reject.call1(&JsValue::NULL, &data)),
                _ => drop(resolve.call1(&JsValue::NULL, &data)),
            }
        });
        let on_error = Closure::<dyn Fn(JsValue)>::new(move |_| {
            let _ = reject_on_error.call1(
                &JsValue::NULL,
                &failure_object("worker", "MedSeal's background worker failed."),
            );
        });
        started.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        started.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        closures.push(on_message.into_js_value());
        closures.push(on_error.into_js_value());
    });
    let result = JsFuture::from(promise).await;
    worker.terminate();
    canceller.0.borrow_mut().take();
    drop(closures);
    result.map_err(|error| JobFailure {
        code: get(&error, "code")
            .as_string()
            .unwrap_or_else(|| "worker".into()),
        message: get(&error, "message")
            .as_string()
            .unwrap_or_else(|| "MedSeal's background worker failed.".into()),
    })
}
