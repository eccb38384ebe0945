//! RADclock: the feedforward estimator (see the module documentation added with the implementation).
