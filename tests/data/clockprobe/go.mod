module clockprobe

go 1.21
