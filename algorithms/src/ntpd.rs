//! ntpd: the NTPv4 reference clock discipline (see the module documentation added with the implementation).
