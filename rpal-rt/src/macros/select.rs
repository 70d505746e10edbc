//! [`select!`](crate::select): wait on several futures, run the handler of the first to finish.
//!
//! # Expansion
//! The branches are parsed by a token muncher into `[name index (pattern) (future) (condition)
//! (handler)]` entries; the names `_0`..`_63` come from one list written in `select!` itself, so
//! the pinned future of branch `k` is a local variable named `_k` in every step. The futures are
//! polled inside one `poll_fn`, starting at a random branch (or branch 0 with `biased;`); a
//! finished branch whose output does not match its pattern is disabled and the others polled on.
//! The futures are dropped (the losing ones cancelled) before the chosen handler runs, so a
//! handler may use what a future borrowed, `.await`, `return`, `break` or `?`.

/// Waits on several futures at once and runs the handler of the first to complete; the others
/// are dropped (cancelled).
///
/// Same syntax and semantics as tokio's `select!`:
///
/// ```text
/// rpal_rt::select! {
///     [biased;]
///     <pattern> = <async expression> [, if <precondition>] => <handler>,
///     ...
///     [else => <handler>]
/// }
/// ```
///
/// 1. Every precondition is evaluated; a branch whose precondition is false is disabled.
/// 2. Every async expression is evaluated (also of disabled branches) and turned into a future
///    with `IntoFuture`.
/// 3. The enabled futures are polled, starting from a random branch (fairness) or, after
///    `biased;`, in the order written. When one completes and its output matches its pattern,
///    all futures are dropped and that branch's handler runs with the pattern's bindings; the
///    value of `select!` is the handler's value. An output that does not match disables the
///    branch and the others go on.
/// 4. If every branch is disabled, the `else` handler runs; without one, `select!` panics.
///
/// At most 64 branches. Use it inside an `async` context. Futures used by reference
/// (`&mut fut`) must be `Unpin` (pin them with `std::pin::pin!`), and then survive the
/// `select!`: the usual way to resume a losing operation in a loop.
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (tx, mut rx) = futures::channel::mpsc::unbounded::<u32>();
///     tx.unbounded_send(5).unwrap();
///     drop(tx);
///     let mut got = Vec::new();
///     loop {
///         rpal_rt::select! {
///             Some(v) = futures::StreamExt::next(&mut rx) => got.push(v),
///             _ = rpal_rt::time::sleep(Duration::from_secs(10)), if got.is_empty() => {
///                 panic!("the message was ready");
///             }
///             else => break,
///         }
///     }
///     assert_eq!(got, [5]);
/// });
/// ```
#[macro_export]
macro_rules! select {
    (biased; $($rest:tt)*) => {
        $crate::__select_parse!(@ biased=[true] names=[(_0 0) (_1 1) (_2 2) (_3 3) (_4 4) (_5 5) (_6 6) (_7 7) (_8 8) (_9 9) (_10 10) (_11 11) (_12 12) (_13 13) (_14 14) (_15 15) (_16 16) (_17 17) (_18 18) (_19 19) (_20 20) (_21 21) (_22 22) (_23 23) (_24 24) (_25 25) (_26 26) (_27 27) (_28 28) (_29 29) (_30 30) (_31 31) (_32 32) (_33 33) (_34 34) (_35 35) (_36 36) (_37 37) (_38 38) (_39 39) (_40 40) (_41 41) (_42 42) (_43 43) (_44 44) (_45 45) (_46 46) (_47 47) (_48 48) (_49 49) (_50 50) (_51 51) (_52 52) (_53 53) (_54 54) (_55 55) (_56 56) (_57 57) (_58 58) (_59 59) (_60 60) (_61 61) (_62 62) (_63 63)] done=[] rest=[$($rest)*])
    };
    ($($rest:tt)*) => {
        $crate::__select_parse!(@ biased=[false] names=[(_0 0) (_1 1) (_2 2) (_3 3) (_4 4) (_5 5) (_6 6) (_7 7) (_8 8) (_9 9) (_10 10) (_11 11) (_12 12) (_13 13) (_14 14) (_15 15) (_16 16) (_17 17) (_18 18) (_19 19) (_20 20) (_21 21) (_22 22) (_23 23) (_24 24) (_25 25) (_26 26) (_27 27) (_28 28) (_29 29) (_30 30) (_31 31) (_32 32) (_33 33) (_34 34) (_35 35) (_36 36) (_37 37) (_38 38) (_39 39) (_40 40) (_41 41) (_42 42) (_43 43) (_44 44) (_45 45) (_46 46) (_47 47) (_48 48) (_49 49) (_50 50) (_51 51) (_52 52) (_53 53) (_54 54) (_55 55) (_56 56) (_57 57) (_58 58) (_59 59) (_60 60) (_61 61) (_62 62) (_63 63)] done=[] rest=[$($rest)*])
    };
}

/// Implementation detail of [`select!`](crate::select): parses one branch per step.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // `else` (last).
    (@ biased=[$b:tt] names=[$($names:tt)*] done=[$($d:tt)*]
        rest=[else => $h:block $(,)?]) => {
        $crate::__select_gen!(@ biased=[$b] else=[($h)] branches=[$($d)*])
    };
    (@ biased=[$b:tt] names=[$($names:tt)*] done=[$($d:tt)*]
        rest=[else => $h:expr $(,)?]) => {
        $crate::__select_gen!(@ biased=[$b] else=[($h)] branches=[$($d)*])
    };
    // With a precondition.
    (@ biased=[$b:tt] names=[($n:ident $i:tt) $($names:tt)*] done=[$($d:tt)*]
        rest=[$p:pat = $f:expr, if $c:expr => $h:block, $($rest:tt)*]) => {
        $crate::__select_parse!(@ biased=[$b] names=[$($names)*]
            done=[$($d)* [$n $i ($p) ($f) ($c) ($h)]] rest=[$($rest)*])
    };
    (@ biased=[$b:tt] names=[($n:ident $i:tt) $($names:tt)*] done=[$($d:tt)*]
        rest=[$p:pat = $f:expr, if $c:expr => $h:block $($rest:tt)*]) => {
        $crate::__select_parse!(@ biased=[$b] names=[$($names)*]
            done=[$($d)* [$n $i ($p) ($f) ($c) ($h)]] rest=[$($rest)*])
    };
    (@ biased=[$b:tt] names=[($n:ident $i:tt) $($names:tt)*] done=[$($d:tt)*]
        rest=[$p:pat = $f:expr, if $c:expr => $h:expr, $($rest:tt)*]) => {
        $crate::__select_parse!(@ biased=[$b] names=[$($names)*]
            done=[$($d)* [$n $i ($p) ($f) ($c) ($h)]] rest=[$($rest)*])
    };
    (@ biased=[$b:tt] names=[($n:ident $i:tt) $($names:tt)*] done=[$($d:tt)*]
        rest=[$p:pat = $f:expr, if $c:expr => $h:expr]) => {
        $crate::__select_parse!(@ biased=[$b] names=[$($names)*]
            done=[$($d)* [$n $i ($p) ($f) ($c) ($h)]] rest=[])
    };
    // Without.
    (@ biased=[$b:tt] names=[($n:ident $i:tt) $($names:tt)*] done=[$($d:tt)*]
        rest=[$p:pat = $f:expr => $h:block, $($rest:tt)*]) => {
        $crate::__select_parse!(@ biased=[$b] names=[$($names)*]
            done=[$($d)* [$n $i ($p) ($f) (true) ($h)]] rest=[$($rest)*])
    };
    (@ biased=[$b:tt] names=[($n:ident $i:tt) $($names:tt)*] done=[$($d:tt)*]
        rest=[$p:pat = $f:expr => $h:block $($rest:tt)*]) => {
        $crate::__select_parse!(@ biased=[$b] names=[$($names)*]
            done=[$($d)* [$n $i ($p) ($f) (true) ($h)]] rest=[$($rest)*])
    };
    (@ biased=[$b:tt] names=[($n:ident $i:tt) $($names:tt)*] done=[$($d:tt)*]
        rest=[$p:pat = $f:expr => $h:expr, $($rest:tt)*]) => {
        $crate::__select_parse!(@ biased=[$b] names=[$($names)*]
            done=[$($d)* [$n $i ($p) ($f) (true) ($h)]] rest=[$($rest)*])
    };
    (@ biased=[$b:tt] names=[($n:ident $i:tt) $($names:tt)*] done=[$($d:tt)*]
        rest=[$p:pat = $f:expr => $h:expr]) => {
        $crate::__select_parse!(@ biased=[$b] names=[$($names)*]
            done=[$($d)* [$n $i ($p) ($f) (true) ($h)]] rest=[])
    };
    // Done.
    (@ biased=[$b:tt] names=[$($names:tt)*] done=[$($d:tt)+] rest=[]) => {
        $crate::__select_gen!(@ biased=[$b] else=[] branches=[$($d)*])
    };
    (@ biased=[$b:tt] names=[] done=[$($d:tt)*] rest=[$($rest:tt)+]) => {
        ::core::compile_error!("rpal_rt::select! takes at most 64 branches")
    };
    (@ biased=[$b:tt] names=[$($names:tt)*] done=[] rest=[]) => {
        ::core::compile_error!("rpal_rt::select! needs at least one `<pattern> = <future> => <handler>` branch")
    };
    (@ biased=[$b:tt] names=[$($names:tt)*] done=[$($d:tt)*] rest=[$($rest:tt)+]) => {
        ::core::compile_error!(::core::concat!(
            "rpal_rt::select!: expected `<pattern> = <future> [, if <condition>] => <handler>,` \
             or `else => <handler>` (last), found: ",
            ::core::stringify!($($rest)+)
        ))
    };
}

/// Implementation detail of [`select!`](crate::select): the generated code.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_gen {
    (@ biased=[$b:tt] else=[$($else:tt)?]
        branches=[$([$n:ident $i:tt $p:tt $f:tt $c:tt $h:tt])+]) => {{
        #[allow(non_camel_case_types, dead_code)]
        enum __SelectOut<$($n,)+> {
            $($n($n),)+
            Disabled,
        }
        let mut __mask: u64 = 0;
        $(
            if !$c {
                __mask |= 1u64 << $i;
            }
        )+
        let __out = {
            $(
                let mut $n = ::core::pin::pin!(::core::future::IntoFuture::into_future($f));
            )+
            ::core::future::poll_fn(|__cx| {
                let __count: u32 = 0 $(+ { let _ = $i; 1u32 })+;
                let __start: u32 = if $b {
                    0
                } else {
                    $crate::__macro_support::thread_rng_n(__count)
                };
                let mut __pending = false;
                for __k in 0..__count {
                    let __branch = (__start + __k) % __count;
                    $(
                        if __branch == $i {
                            if __mask & (1u64 << $i) != 0 {
                                continue;
                            }
                            match ::core::future::Future::poll($n.as_mut(), __cx) {
                                ::core::task::Poll::Ready(__value) => {
                                    __mask |= 1u64 << $i;
                                    let __o = __SelectOut::$n(__value);
                                    #[allow(unused_variables, unused_mut)]
                                    match &__o {
                                        __SelectOut::$n $p => {}
                                        _ => continue,
                                    }
                                    return ::core::task::Poll::Ready(__o);
                                }
                                ::core::task::Poll::Pending => {
                                    __pending = true;
                                    continue;
                                }
                            }
                        }
                    )+
                }
                if __pending {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready(__SelectOut::Disabled)
                }
            })
            .await
        };
        match __out {
            $(
                __SelectOut::$n $p => $h,
            )+
            __SelectOut::Disabled => $crate::__select_else!($($else)?),
            #[allow(unreachable_patterns)]
            _ => ::core::unreachable!("select!: an output not matching its pattern is never returned"),
        }
    }};
}

/// Implementation detail of [`select!`](crate::select): the handler when every branch is
/// disabled.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_else {
    () => {
        ::core::panic!(
            "all branches of rpal_rt::select! are disabled and there is no `else` branch"
        )
    };
    ($h:tt) => {
        $h
    };
}
