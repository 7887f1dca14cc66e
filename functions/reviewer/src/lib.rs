pub use reviewer_engine;
