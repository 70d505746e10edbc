//! A thread parker for threads without a reactor.
