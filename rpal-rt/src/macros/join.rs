//! [`join!`](crate::join) and [`try_join!`](crate::try_join): run futures concurrently in one
//! task and collect every output.
//!
//! Each future is pinned in a local (`_0`..`_63`, from the list written in the entry macro, as
//! in `select!`) inside a `futures::future::MaybeDone`, which keeps its output once it
//! finishes. Every poll starts from the next branch in turn, so an always-ready future cannot
//! keep the others from running first.

/// Runs futures concurrently on the current task and waits for all of them; the value is the
/// tuple of their outputs, in the order written. Same as tokio's `join!` (at most 64).
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// let (a, b) = rt.block_on(async {
///     rpal_rt::join!(async { 1 }, async {
///         rpal_rt::yield_now().await;
///         "two"
///     })
/// });
/// assert_eq!((a, b), (1, "two"));
/// ```
#[macro_export]
macro_rules! join {
    () => { () };
    ($($e:expr),+ $(,)?) => {
        $crate::__join_parse!(@ kind=[join] names=[(_0 0) (_1 1) (_2 2) (_3 3) (_4 4) (_5 5) (_6 6) (_7 7) (_8 8) (_9 9) (_10 10) (_11 11) (_12 12) (_13 13) (_14 14) (_15 15) (_16 16) (_17 17) (_18 18) (_19 19) (_20 20) (_21 21) (_22 22) (_23 23) (_24 24) (_25 25) (_26 26) (_27 27) (_28 28) (_29 29) (_30 30) (_31 31) (_32 32) (_33 33) (_34 34) (_35 35) (_36 36) (_37 37) (_38 38) (_39 39) (_40 40) (_41 41) (_42 42) (_43 43) (_44 44) (_45 45) (_46 46) (_47 47) (_48 48) (_49 49) (_50 50) (_51 51) (_52 52) (_53 53) (_54 54) (_55 55) (_56 56) (_57 57) (_58 58) (_59 59) (_60 60) (_61 61) (_62 62) (_63 63)] done=[] rest=[$($e,)+])
    };
}

/// Runs futures that return `Result` concurrently and waits for all of them to succeed, or for
/// the first error. `Ok(tuple of outputs)`, or the first `Err` (the other futures are then
/// dropped). Every future must have the same error type. Same as tokio's `try_join!`.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let ok: Result<(u8, u16), &str> = rpal_rt::try_join!(async { Ok(1) }, async { Ok(2) });
///     assert_eq!(ok, Ok((1, 2)));
///     let err: Result<(u8, ()), &str> =
///         rpal_rt::try_join!(async { Ok(1) }, async { Err("no") });
///     assert_eq!(err, Err("no"));
/// });
/// ```
#[macro_export]
macro_rules! try_join {
    () => { ::core::result::Result::Ok(()) };
    ($($e:expr),+ $(,)?) => {
        $crate::__join_parse!(@ kind=[try_join] names=[(_0 0) (_1 1) (_2 2) (_3 3) (_4 4) (_5 5) (_6 6) (_7 7) (_8 8) (_9 9) (_10 10) (_11 11) (_12 12) (_13 13) (_14 14) (_15 15) (_16 16) (_17 17) (_18 18) (_19 19) (_20 20) (_21 21) (_22 22) (_23 23) (_24 24) (_25 25) (_26 26) (_27 27) (_28 28) (_29 29) (_30 30) (_31 31) (_32 32) (_33 33) (_34 34) (_35 35) (_36 36) (_37 37) (_38 38) (_39 39) (_40 40) (_41 41) (_42 42) (_43 43) (_44 44) (_45 45) (_46 46) (_47 47) (_48 48) (_49 49) (_50 50) (_51 51) (_52 52) (_53 53) (_54 54) (_55 55) (_56 56) (_57 57) (_58 58) (_59 59) (_60 60) (_61 61) (_62 62) (_63 63)] done=[] rest=[$($e,)+])
    };
}

/// Implementation detail of [`join!`](crate::join): pairs each future with a name.
#[doc(hidden)]
#[macro_export]
macro_rules! __join_parse {
    (@ kind=[$k:ident] names=[($n:ident $i:tt) $($names:tt)*] done=[$($d:tt)*]
        rest=[$e:expr, $($rest:tt)*]) => {
        $crate::__join_parse!(@ kind=[$k] names=[$($names)*] done=[$($d)* [$n $i ($e)]]
            rest=[$($rest)*])
    };
    (@ kind=[$k:ident] names=[] done=[$($d:tt)*] rest=[$($rest:tt)+]) => {
        ::core::compile_error!("rpal_rt::join!/try_join! take at most 64 futures")
    };
    (@ kind=[$k:ident] names=[$($names:tt)*] done=[$($d:tt)*] rest=[]) => {
        $crate::__join_gen!(@ $k [$($d)*])
    };
}

/// Implementation detail of [`join!`](crate::join): the generated code.
#[doc(hidden)]
#[macro_export]
macro_rules! __join_gen {
    (@ $k:ident [$([$n:ident $i:tt $e:tt])+]) => {{
        $(
            let mut $n = ::core::pin::pin!($crate::__macro_support::maybe_done(
                ::core::future::IntoFuture::into_future($e)
            ));
        )+
        let mut __next: u32 = 0;
        ::core::future::poll_fn(|__cx| {
            let __count: u32 = 0 $(+ { let _ = $i; 1u32 })+;
            let __start = __next;
            __next = (__next + 1) % __count;
            let mut __all_done = true;
            for __k in 0..__count {
                let __branch = (__start + __k) % __count;
                $(
                    if __branch == $i {
                        if ::core::future::Future::poll($n.as_mut(), __cx).is_pending() {
                            __all_done = false;
                        } else {
                            $crate::__join_check!($k $n);
                        }
                        continue;
                    }
                )+
            }
            if !__all_done {
                return ::core::task::Poll::Pending;
            }
            ::core::task::Poll::Ready($crate::__join_output!($k ($(
                match $n.as_mut().take_output() {
                    ::core::option::Option::Some(__v) => __v,
                    ::core::option::Option::None => {
                        ::core::unreachable!("join!: every future finished exactly once")
                    }
                },
            )+)))
        })
        .await
    }};
}

/// Implementation detail of [`try_join!`](crate::try_join): return the first error.
#[doc(hidden)]
#[macro_export]
macro_rules! __join_check {
    (join $n:ident) => {};
    (try_join $n:ident) => {
        if ::core::matches!(
            $n.as_mut().output_mut(),
            ::core::option::Option::Some(::core::result::Result::Err(_))
        ) {
            if let ::core::option::Option::Some(::core::result::Result::Err(__e)) =
                $n.as_mut().take_output()
            {
                return ::core::task::Poll::Ready(::core::result::Result::Err(__e));
            }
        }
    };
}

/// Implementation detail of [`join!`](crate::join): the final value.
#[doc(hidden)]
#[macro_export]
macro_rules! __join_output {
    (join $tuple:tt) => {
        $tuple
    };
    (try_join ($($v:expr,)+)) => {
        ::core::result::Result::Ok(($(
            match $v {
                ::core::result::Result::Ok(__ok) => __ok,
                ::core::result::Result::Err(_) => {
                    ::core::unreachable!("try_join!: errors are returned as soon as they appear")
                }
            },
        )+))
    };
}
