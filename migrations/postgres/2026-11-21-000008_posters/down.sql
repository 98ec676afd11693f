DROP TABLE poster_files;
DROP TABLE posters;
DROP TABLE blobs;
